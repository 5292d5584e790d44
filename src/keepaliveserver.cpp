// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepaliveserver.h"

#include "keepaliveengine_p.h"
#include "keepaliveformat_p.h"
#include "keepalivelogging_p.h"
#include "timeoutqueue_p.h"

#include <QtCore/QEvent>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QPointer>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>

using namespace std::chrono;
using namespace std::chrono_literals;
using QtKeepAlive::ClientLossReason;
using QtKeepAlive::KeepAliveError;

namespace {

// How long an idle client closed with disconnectFromHost() may take to send
// what we queued before it is aborted (a client that stopped reading).
constexpr milliseconds CloseGrace = 2s;

} // namespace

/*!
    The server's bookkeeping. A QObject child of the server, so that it and
    its timer follow moveToThread(), and so that destroying it (first, in
    ~KeepAliveServer) drops every connection to the clients' signals before
    ~QTcpServer deletes the pending ones.
*/
class KeepAliveServerPrivate : public QObject
{
public:
    explicit KeepAliveServerPrivate(KeepAliveServer *server) : QObject(server), q(server)
    {
        m_idleTimer.setSingleShot(true);
        m_idleTimer.setTimerType(Qt::PreciseTimer);
        connect(&m_idleTimer, &QTimer::timeout, this, &KeepAliveServerPrivate::reapIdle);
    }

    void adopt(KeepAliveSocket *client);
    void refuse(KeepAliveSocket *client);
    void lose(KeepAliveSocket *client, ClientLossReason reason, const ConnectionHealth &health);
    void forget(KeepAliveSocket *client);
    void removeFromPendingQueue(KeepAliveSocket *client);
    void touch(KeepAliveSocket *client);
    void armIdleTimer();
    void reapIdle();
    void reject(const QString &message);

    bool eventFilter(QObject *watched, QEvent *event) override;

    KeepAliveServer *const q;
    KeepAliveOptions options;
    KeepAliveError error = KeepAliveError::NoError;
    QString errorString;
    QString settingErrorString;
    milliseconds idleTimeout = 0ms;
    int maxClients = 0;

    struct Client
    {
        bool pending = true; //!< still in QTcpServer's pending queue
    };
    //! The live clients: accepted, not yet lost, disconnected, destroyed or moved away.
    QHash<KeepAliveSocket *, Client> clients;
    //! The live clients by their last activity, while idle reaping is on.
    TimeoutQueue<KeepAliveSocket *> idle;
    QTimer m_idleTimer{this};
};

void KeepAliveServerPrivate::reject(const QString &message)
{
    settingErrorString = message;
    qCWarning(lcKeepAlive).noquote() << message;
}

void KeepAliveServerPrivate::adopt(KeepAliveSocket *client)
{
    clients.insert(client, Client());
    // Connected before the application can connect anything: these run first.
    connect(client, &KeepAliveSocket::deadPeer, this,
            [this, client](QtKeepAlive::DeadPeerReason reason) {
                lose(client, QtKeepAlive::clientLossReason(reason), client->connectionHealth());
            });
    connect(client, &QAbstractSocket::disconnected, this, [this, client] { forget(client); });
    // Only the pointer is used: ~QAbstractSocket() may be running.
    connect(client, &QObject::destroyed, this, [this, client] { forget(client); });
    connect(client, &QIODevice::readyRead, this, [this, client] {
        if (idleTimeout > 0ms && clients.contains(client))
            idle.touch(client, steady_clock::now());
    });
    // moveToThread() sends ThreadChange while the client is still ours.
    client->installEventFilter(this);
    if (idleTimeout > 0ms) {
        idle.touch(client, steady_clock::now());
        armIdleTimer();
    }
}

bool KeepAliveServerPrivate::eventFilter(QObject *watched, QEvent *event)
{
    // A client still parented to the server only moves along with it (Qt
    // refuses to move an object that has a parent on its own).
    if (event->type() == QEvent::ThreadChange && watched->parent() != q) {
        auto *client = static_cast<KeepAliveSocket *>(watched);
        forget(client);
        disconnect(client, nullptr, this, nullptr);
        client->removeEventFilter(this);
    }
    return false;
}

void KeepAliveServerPrivate::refuse(KeepAliveSocket *client)
{
    qCWarning(lcKeepAlive).nospace().noquote()
            << "refused client " << client->peerAddress().toString() << ":" << client->peerPort()
            << ": the server already has " << clients.size() << " clients (maxClients "
            << maxClients << ")";
    Q_EMIT q->clientLost(client, ClientLossReason::RefusedOverLimit, ConnectionHealth());
    client->abort();
    client->deleteLater();
}

void KeepAliveServerPrivate::lose(KeepAliveSocket *client, ClientLossReason reason,
                                  const ConnectionHealth &health)
{
    const auto found = clients.constFind(client);
    if (found == clients.cend())
        return; // already lost, or gone
    const bool pending = found->pending;
    forget(client);
    // Out of the queue before the signal: a handler that takes the pending
    // connections must not get the one that is about to be deleted.
    if (pending)
        removeFromPendingQueue(client);
    Q_EMIT q->clientLost(client, reason, health);
    if (pending)
        client->deleteLater();
}

void KeepAliveServerPrivate::forget(KeepAliveSocket *client)
{
    clients.remove(client);
    idle.remove(client);
}

void KeepAliveServerPrivate::removeFromPendingQueue(KeepAliveSocket *client)
{
    // QTcpServer offers no removal: take the whole queue and put the others
    // back in their order. Only when a client dies before it is taken.
    QList<QTcpSocket *> others;
    while (QTcpSocket *socket = q->QTcpServer::nextPendingConnection()) {
        if (socket != client)
            others.append(socket);
    }
    for (QTcpSocket *socket : std::as_const(others))
        q->addPendingConnection(socket);
}

void KeepAliveServerPrivate::armIdleTimer()
{
    if (idle.isEmpty() || idleTimeout <= 0ms) {
        m_idleTimer.stop();
        return;
    }
    const auto due = idle.nextExpiry(idleTimeout);
    const auto now = steady_clock::now();
    // Rounded up: a timer that fires a little early only re-arms.
    const milliseconds wait = due > now ? ceil<milliseconds>(due - now) : 0ms;
    m_idleTimer.start(wait);
}

void KeepAliveServerPrivate::reapIdle()
{
    idle.expire(steady_clock::now(), idleTimeout, [this](KeepAliveSocket *client) {
        if (!clients.contains(client))
            return;
        const ConnectionHealth health = client->connectionHealth();
        lose(client, ClientLossReason::IdleTimeout, health);
        if (client->state() == QAbstractSocket::UnconnectedState)
            return;
        client->disconnectFromHost();
        if (client->state() == QAbstractSocket::ClosingState) {
            // Our queued data could not leave yet.
            QTimer::singleShot(CloseGrace, client, [client] {
                if (client->state() == QAbstractSocket::ClosingState)
                    client->abort();
            });
        }
    });
    armIdleTimer();
}

KeepAliveServer::KeepAliveServer(QObject *parent)
    : QTcpServer(parent),
      d(std::make_unique<KeepAliveServerPrivate>(this))
{
}

// d goes first: its connections to the clients end before ~QTcpServer()
// deletes the pending ones.
KeepAliveServer::~KeepAliveServer() = default;

bool KeepAliveServer::setKeepAliveOptions(const KeepAliveOptions &options)
{
    const QString problem = invalidKeepAliveOptionsMessage(options);
    const KeepAliveError error =
            problem.isEmpty() ? KeepAliveError::NoError : KeepAliveError::InvalidOptions;
    d->error = error;
    d->errorString = problem;
    if (!problem.isEmpty()) {
        d->reject(problem);
        return false;
    }
    d->settingErrorString.clear();
    if (options == d->options)
        return true;
    d->options = options;
    Q_EMIT keepAliveOptionsChanged(options);
    return true;
}

KeepAliveOptions KeepAliveServer::keepAliveOptions() const
{
    return d->options;
}

KeepAliveServer::KeepAliveError KeepAliveServer::keepAliveError() const
{
    return d->error;
}

QString KeepAliveServer::keepAliveErrorString() const
{
    return d->errorString;
}

bool KeepAliveServer::setIdleTimeout(milliseconds timeout)
{
    if (timeout < 0ms) {
        d->reject(QStringLiteral("invalid idle timeout: %1 is negative (0 switches reaping off)")
                          .arg(formatDuration(timeout)));
        return false;
    }
    d->settingErrorString.clear();
    if (timeout == d->idleTimeout)
        return true;
    const bool wasOn = d->idleTimeout > 0ms;
    d->idleTimeout = timeout;
    if (timeout == 0ms) {
        d->idle = {};
    } else if (!wasOn) {
        // Counted from now: activity is not recorded while reaping is off.
        const auto now = steady_clock::now();
        for (auto it = d->clients.cbegin(); it != d->clients.cend(); ++it)
            d->idle.touch(it.key(), now);
    }
    d->armIdleTimer();
    Q_EMIT idleTimeoutChanged(timeout);
    return true;
}

milliseconds KeepAliveServer::idleTimeout() const
{
    return d->idleTimeout;
}

bool KeepAliveServer::setMaxClients(int count)
{
    if (count < 0) {
        d->reject(QStringLiteral("invalid maximum number of clients: %1 is negative "
                                 "(0 means unlimited)")
                          .arg(count));
        return false;
    }
    d->settingErrorString.clear();
    if (count == d->maxClients)
        return true;
    d->maxClients = count;
    Q_EMIT maxClientsChanged(count);
    return true;
}

int KeepAliveServer::maxClients() const
{
    return d->maxClients;
}

int KeepAliveServer::clientCount() const
{
    return int(d->clients.size());
}

QString KeepAliveServer::settingErrorString() const
{
    return d->settingErrorString;
}

KeepAliveSocket *KeepAliveServer::nextPendingConnection()
{
    // Only KeepAliveSockets are queued (incomingConnection()).
    auto *client = static_cast<KeepAliveSocket *>(QTcpServer::nextPendingConnection());
    if (client) {
        const auto found = d->clients.find(client);
        if (found != d->clients.end())
            found->pending = false;
    }
    return client;
}

void KeepAliveServer::incomingConnection(qintptr socketDescriptor)
{
    auto *client = new KeepAliveSocket(this);
    client->setKeepAliveOptions(d->options);
    if (!client->setSocketDescriptor(socketDescriptor)) {
        qCWarning(lcKeepAlive).noquote()
                << "could not adopt an accepted connection:" << client->errorString();
        delete client;
        return;
    }
    if (d->maxClients > 0 && d->clients.size() >= d->maxClients) {
        d->refuse(client);
        return;
    }
    d->adopt(client);
    addPendingConnection(client);
}
