// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivesslserver.h"

#if QT_CONFIG(ssl)

#  include "keepaliveformat_p.h"
#  include "keepalivelogging_p.h"
#  include "servercore_p.h"
#  include "timeoutqueue_p.h"

#  include <QtCore/QTimer>

#  include <climits>

using namespace std::chrono;
using QtKeepAlive::ClientLossReason;

/*!
    ServerCore for KeepAliveSslSocket clients, and the handshakes under way:
    one timer for all of them, in the server's thread (where a client lives
    until it is handed out).
*/
class KeepAliveSslServerPrivate : public ServerCore
{
public:
    explicit KeepAliveSslServerPrivate(KeepAliveSslServer *server)
        : ServerCore(server, signalsOf<KeepAliveSslSocket>(server)),
          q(server),
          m_timer(new QTimer(server))
    {
        m_timer->setSingleShot(true);
        m_timer->setTimerType(Qt::PreciseTimer);
        QObject::connect(m_timer, &QTimer::timeout, server, [this] { endOverdueHandshakes(); });
    }
    ~KeepAliveSslServerPrivate()
    {
        // The clients in their handshake are deleted with the server, after
        // this: their signals must no longer reach it.
        m_handshakes.expire(TimePoint::max(), 0ms, [this](const QObject *client) {
            const_cast<QObject *>(client)->disconnect(q);
        });
    }

    //! Counts \a client and starts its handshake; false if it was refused.
    bool startHandshake(KeepAliveSslSocket *client);
    //! The handshake timeout changed: the handshakes under way use it too.
    void rearm();

private:
    using TimePoint = steady_clock::time_point;

    void forwardHandshakeSignals(KeepAliveSslSocket *client);
    void handshakeDone(KeepAliveSslSocket *client);
    void handshakeFailed(KeepAliveSslSocket *client, QAbstractSocket::SocketError error);
    void endOverdueHandshakes();

    KeepAliveSslServer *const q;
    QTimer *const m_timer; //!< a child of the server: it moves with it
    //! The clients in their handshake, by its start (keys only: one may be in its destructor).
    TimeoutQueue<const QObject *> m_handshakes;
};

bool KeepAliveSslServerPrivate::startHandshake(KeepAliveSslSocket *client)
{
    if (!admit(client))
        return false;
    forwardHandshakeSignals(client);
    m_handshakes.touch(client, steady_clock::now());
    rearm();
    client->startServerEncryption();
    Q_EMIT q->startedEncryptionHandshake(client);
    return true;
}

void KeepAliveSslServerPrivate::forwardHandshakeSignals(KeepAliveSslSocket *client)
{
    // QSslServer's signals, as it emits them for its own sockets; all of
    // these connections end with the handshake (disconnect(q)).
    QObject::connect(client, &QSslSocket::peerVerifyError, q,
                     [this, client](const QSslError &e) { Q_EMIT q->peerVerifyError(client, e); });
    QObject::connect(client, &QSslSocket::sslErrors, q,
                     [this, client](const QList<QSslError> &errors) {
                         Q_EMIT q->sslErrors(client, errors);
                     });
    QObject::connect(client, &QSslSocket::preSharedKeyAuthenticationRequired, q,
                     [this, client](QSslPreSharedKeyAuthenticator *authenticator) {
                         Q_EMIT q->preSharedKeyAuthenticationRequired(client, authenticator);
                     });
    QObject::connect(client, &QSslSocket::alertSent, q,
                     [this, client](QSsl::AlertLevel level, QSsl::AlertType type,
                                    const QString &description) {
                         Q_EMIT q->alertSent(client, level, type, description);
                     });
    QObject::connect(client, &QSslSocket::alertReceived, q,
                     [this, client](QSsl::AlertLevel level, QSsl::AlertType type,
                                    const QString &description) {
                         Q_EMIT q->alertReceived(client, level, type, description);
                     });
    QObject::connect(client, &QSslSocket::handshakeInterruptedOnError, q,
                     [this, client](const QSslError &error) {
                         Q_EMIT q->handshakeInterruptedOnError(client, error);
                     });
    QObject::connect(
            client, &QAbstractSocket::errorOccurred, q,
            [this, client](QAbstractSocket::SocketError error) { handshakeFailed(client, error); });
    QObject::connect(client, &QSslSocket::encrypted, q, [this, client] { handshakeDone(client); });
    QObject::connect(client, &QObject::destroyed, q,
                     [this](QObject *gone) { m_handshakes.remove(gone); });
}

void KeepAliveSslServerPrivate::handshakeDone(KeepAliveSslSocket *client)
{
    m_handshakes.remove(client);
    client->disconnect(q);
    queue(client);
    rearm();
}

void KeepAliveSslServerPrivate::handshakeFailed(KeepAliveSslSocket *client,
                                                QAbstractSocket::SocketError error)
{
    m_handshakes.remove(client);
    // After a dead peer's deadPeer() the client is lost already, with its
    // reason. Before QSslServer's signal: a handler of that one may abort()
    // the client, which would leave no loss to report.
    lose(client, ClientLossReason::HandshakeFailed);
    Q_EMIT q->errorOccurred(client, error);
}

void KeepAliveSslServerPrivate::rearm()
{
    if (m_handshakes.isEmpty()) {
        m_timer->stop();
        return;
    }
    const milliseconds timeout = std::max(q->handshakeTimeout(), 0ms);
    m_timer->start(timerWaitUntil(m_handshakes.nextExpiry(timeout), steady_clock::now()));
}

void KeepAliveSslServerPrivate::endOverdueHandshakes()
{
    const milliseconds timeout = std::max(q->handshakeTimeout(), 0ms);
    QList<KeepAliveSslSocket *> overdue;
    m_handshakes.expire(steady_clock::now(), timeout, [&overdue](const QObject *client) {
        overdue.append(static_cast<KeepAliveSslSocket *>(const_cast<QObject *>(client)));
    });
    for (KeepAliveSslSocket *client : std::as_const(overdue)) {
        client->disconnect(q);
        lose(client, ClientLossReason::HandshakeTimeout);
        Q_EMIT q->errorOccurred(client, QAbstractSocket::SocketTimeoutError);
        // Its slot of maxClients() is free as it disconnects, now.
        client->abort();
    }
    rearm();
}

KeepAliveSslServer::KeepAliveSslServer(QObject *parent)
    : QSslServer(parent),
      d(std::make_unique<KeepAliveSslServerPrivate>(this))
{
    QSslServer::setHandshakeTimeout(int(DefaultHandshakeTimeout.count()));
}

// d goes first: its connections to the clients end before ~QTcpServer()
// deletes the pending ones and those in their handshake.
KeepAliveSslServer::~KeepAliveSslServer() = default;

bool KeepAliveSslServer::setKeepAliveOptions(const KeepAliveOptions &options)
{
    return notifyChange(d->setOptions(options), [&] { Q_EMIT keepAliveOptionsChanged(options); });
}

KeepAliveOptions KeepAliveSslServer::keepAliveOptions() const
{
    return d->options();
}

KeepAliveSslServer::KeepAliveError KeepAliveSslServer::keepAliveError() const
{
    return d->error();
}

QString KeepAliveSslServer::keepAliveErrorString() const
{
    return d->errorString();
}

bool KeepAliveSslServer::setIdleTimeout(milliseconds timeout)
{
    return notifyChange(d->setIdleTimeout(timeout), [&] { Q_EMIT idleTimeoutChanged(timeout); });
}

milliseconds KeepAliveSslServer::idleTimeout() const
{
    return d->idleTimeout();
}

bool KeepAliveSslServer::setMaxClients(int count)
{
    return notifyChange(d->setMaxClients(count), [&] { Q_EMIT maxClientsChanged(count); });
}

int KeepAliveSslServer::maxClients() const
{
    return d->maxClients();
}

bool KeepAliveSslServer::setHandshakeTimeout(milliseconds timeout)
{
    if (timeout < 1ms || timeout > milliseconds(INT_MAX)) {
        d->reject(QStringLiteral("invalid handshake timeout: %1 is outside 1 ms..%2 ms")
                          .arg(formatDuration(timeout))
                          .arg(INT_MAX));
        return false;
    }
    d->accept();
    if (timeout == handshakeTimeout())
        return true;
    QSslServer::setHandshakeTimeout(int(timeout.count()));
    d->rearm();
    Q_EMIT handshakeTimeoutChanged(timeout);
    return true;
}

milliseconds KeepAliveSslServer::handshakeTimeout() const
{
    return milliseconds(QSslServer::handshakeTimeout());
}

int KeepAliveSslServer::clientCount() const
{
    return d->clientCount();
}

QString KeepAliveSslServer::settingErrorString() const
{
    return d->settingErrorString();
}

KeepAliveSslSocket *KeepAliveSslServer::nextPendingConnection()
{
    return static_cast<KeepAliveSslSocket *>(d->takePending(KeepAliveSslSocket::staticMetaObject));
}

void KeepAliveSslServer::incomingConnection(qintptr socketDescriptor)
{
    auto *client = new KeepAliveSslSocket(this);
    client->setSslConfiguration(sslConfiguration());
    client->setKeepAliveOptions(d->options());
    if (!client->setSocketDescriptor(socketDescriptor)) {
        qCWarning(lcKeepAlive).noquote()
                << "could not adopt an accepted connection:" << client->errorString();
        delete client;
        return;
    }
    d->startHandshake(client);
}

bool KeepAliveSslServer::addPendingClient(KeepAliveSslSocket *client)
{
    return d->isNewClient(client, "KeepAliveSslServer::addPendingClient")
            && d->startHandshake(client);
}

#endif // QT_CONFIG(ssl)
