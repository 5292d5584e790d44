// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepaliveserver.h"

#include "keepaliveengine_p.h"
#include "keepaliveformat_p.h"
#include "keepalivelogging_p.h"
#include "qtinternals_p.h"
#include "timeoutqueue_p.h"

#include <QtCore/QEvent>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QPointer>
#include <QtCore/QSet>
#include <QtCore/QSocketNotifier>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>

#include <atomic>
#include <memory>

using namespace std::chrono;
using namespace std::chrono_literals;
using QtKeepAlive::ClientLossReason;
using QtKeepAlive::KeepAliveError;

namespace {

// How long an idle client closed with disconnectFromHost() may take to send
// what we queued before it is aborted (a client that stopped reading).
constexpr milliseconds CloseGrace = 2s;

} // namespace

class ClientTie;
class ClientCare;

/*!
    Whether a server accepts, as pauseAccepting() or a full pending queue
    left it: QTcpServer's nextPendingConnection() accepts again, which is
    only right when it hands a connection out.
*/
class AcceptState
{
public:
    explicit AcceptState(const QTcpServer *server)
        : m_server(server),
          m_notifier(QtInternals::acceptNotifier(server)),
          m_enabled(!m_notifier || m_notifier->isEnabled())
    {
    }
    void restore() const
    {
        if (!m_enabled && m_notifier && QtInternals::acceptNotifier(m_server) == m_notifier)
            m_notifier->setEnabled(false);
    }

private:
    const QTcpServer *const m_server;
    const QPointer<QSocketNotifier> m_notifier;
    const bool m_enabled;
};

/*!
    What the server and its clients in every thread share. Clients may live
    in other threads than the server (moveToThread() after setParent(nullptr)),
    so everything here is guarded by the mutex; it is recursive because
    clientLost() is emitted with it held (the server cannot be destroyed
    during the emission) and a handler may call back into the server.
*/
struct ServerShared
{
    mutable QRecursiveMutex mutex;
    KeepAliveServer *server = nullptr; //!< null once the server is destroyed
    struct Client
    {
        bool pending = true; //!< still in QTcpServer's pending queue
        bool lost = false;   //!< clientLost() was emitted; counted until it disconnects
    };
    //! The clients counted: accepted, not yet disconnected or destroyed.
    QHash<const KeepAliveSocket *, Client> clients;
    //! The idle-reaping care of each thread that has clients of this server.
    QHash<QThread *, ClientCare *> cares;
    std::atomic<milliseconds::rep> idleTimeoutMs{0};

    milliseconds idleTimeout() const { return milliseconds(idleTimeoutMs.load()); }
};
using SharedLocker = QMutexLocker<QRecursiveMutex>;

/*!
    The server's own state, used in its thread only; what clients in other
    threads need is in the ServerShared.
*/
class KeepAliveServerPrivate
{
public:
    explicit KeepAliveServerPrivate(KeepAliveServer *server)
        : q(server),
          shared(std::make_shared<ServerShared>())
    {
        shared->server = server;
    }
    ~KeepAliveServerPrivate();

    //! Takes \a client into care and queues it; false if it was refused over the limit.
    bool addClient(KeepAliveSocket *client);
    void refuse(KeepAliveSocket *client);
    /*!
        Puts \a first (if any) at the front of the pending queue and drops
        \a dropped (if any) from it, with the shared lock held; accepting
        is left as \a accepting found it.
    */
    static void rebuildPendingQueue(KeepAliveServer *server, const AcceptState &accepting,
                                    QTcpSocket *first, const QTcpSocket *dropped);
    void reject(const QString &message);

    KeepAliveServer *const q;
    const std::shared_ptr<ServerShared> shared;
    KeepAliveOptions options;
    KeepAliveError error = KeepAliveError::NoError;
    QString errorString;
    QString settingErrorString;
    milliseconds idleTimeout = 0ms;
    int maxClients = 0;
};

/*!
    The server's care of its clients in one thread: their order of last
    activity and the one timer that reaps the idle ones. Lives in that
    thread and is only used there; deleted when its last client leaves.
*/
class ClientCare : public QObject
{
public:
    explicit ClientCare(std::shared_ptr<ServerShared> shared) : m_shared(std::move(shared))
    {
        m_timer.setSingleShot(true);
        m_timer.setTimerType(Qt::PreciseTimer);
        connect(&m_timer, &QTimer::timeout, this, &ClientCare::reapIdle);
        // Emitted in the finishing thread, before it stops: later, a
        // deleteLater() would never run and the timer could not be stopped.
        connect(thread(), &QThread::finished, this, &ClientCare::threadEnded, Qt::DirectConnection);
    }

    void attach(ClientTie *tie);
    //! Drops \a tie; the last one out deletes the care.
    void detach(ClientTie *tie);
    void touch(ClientTie *tie);
    //! Picks up a new idle timeout (queued from the server's thread).
    void refresh();
    //! The server is gone: its clients here are no longer cared for.
    void release();

private:
    void arm();
    void reapIdle();
    //! This thread is finishing: nothing here may be left to another thread.
    void threadEnded();

    const std::shared_ptr<ServerShared> m_shared;
    QSet<ClientTie *> m_ties;
    //! The clients by their last activity, whether or not reaping is on.
    TimeoutQueue<ClientTie *> m_idle;
    milliseconds m_timeout = 0ms; //!< the idle timeout m_idle is kept for
    QTimer m_timer{this};
};

/*!
    The server's hold on one client: a child of the client, so that it moves
    with it to any thread and its connections to the client's signals are
    direct there and run before the application's. Destroyed with the
    client, or when the client leaves the server.
*/
class ClientTie : public QObject
{
public:
    ClientTie(KeepAliveSocket *client, std::shared_ptr<ServerShared> shared);
    ~ClientTie() override;

    //! Joins the care of the current thread, if the client is still the server's.
    void attachToCare();
    /*!
        Reports the loss of the client once, with the shared lock held.
        False if it was lost before, has left, or the server is gone.
    */
    bool lose(ClientLossReason reason, const ConnectionHealth &health);
    /*!
        Called by the care of this thread when the client received nothing
        for \a timeout as far as readyRead() tells: false if the kernel says
        bytes arrived meanwhile (the client is active), else it is reaped.
    */
    bool reap(std::chrono::milliseconds timeout);
    void detachFromCare();
    void careReleased() { m_care = nullptr; }

protected:
    bool event(QEvent *event) override;

private:
    void forget();

    KeepAliveSocket *const m_client;
    const std::shared_ptr<ServerShared> m_shared;
    ClientCare *m_care = nullptr; //!< the care of this thread; null while moving
};

void ClientCare::attach(ClientTie *tie)
{
    m_ties.insert(tie);
    m_idle.touch(tie, steady_clock::now());
    refresh();
    arm();
}

void ClientCare::detach(ClientTie *tie)
{
    m_ties.remove(tie);
    m_idle.remove(tie);
    if (!m_ties.isEmpty())
        return;
    m_timer.stop();
    const SharedLocker lock(&m_shared->mutex);
    if (m_shared->cares.value(thread()) == this)
        m_shared->cares.remove(thread());
    deleteLater();
}

void ClientCare::touch(ClientTie *tie)
{
    // Also while reaping is off: a timeout set later counts from here.
    m_idle.touch(tie, steady_clock::now());
}

void ClientCare::refresh()
{
    const milliseconds timeout = m_shared->idleTimeout();
    if (timeout == m_timeout)
        return;
    m_timeout = timeout;
    arm();
}

void ClientCare::release()
{
    for (ClientTie *tie : std::as_const(m_ties))
        tie->careReleased();
    m_ties.clear();
    m_idle = {};
    m_timer.stop();
    deleteLater();
}

void ClientCare::arm()
{
    if (m_idle.isEmpty() || m_timeout <= 0ms) {
        m_timer.stop();
        return;
    }
    m_timer.start(timerWaitUntil(m_idle.nextExpiry(m_timeout), steady_clock::now()));
}

void ClientCare::reapIdle()
{
    const milliseconds timeout = m_timeout;
    m_idle.expire(steady_clock::now(), timeout, [this, timeout](ClientTie *tie) {
        if (!tie->reap(timeout) && m_ties.contains(tie))
            m_idle.touch(tie, steady_clock::now());
    });
    arm();
}

void ClientCare::threadEnded()
{
    m_timer.stop();
    for (ClientTie *tie : std::as_const(m_ties))
        tie->careReleased();
    m_ties.clear();
    {
        const SharedLocker lock(&m_shared->mutex);
        if (m_shared->cares.value(thread()) == this)
            m_shared->cares.remove(thread());
    }
    delete this;
}

ClientTie::ClientTie(KeepAliveSocket *client, std::shared_ptr<ServerShared> shared)
    : QObject(client),
      m_client(client),
      m_shared(std::move(shared))
{
    // Connected before the application can connect anything: these run first.
    connect(client, &KeepAliveSocket::deadPeer, this, [this](QtKeepAlive::DeadPeerReason reason) {
        lose(QtKeepAlive::clientLossReason(reason), m_client->connectionHealth());
    });
    connect(client, &QAbstractSocket::disconnected, this, [this] {
        forget();
        deleteLater();
    });
    connect(client, &QIODevice::readyRead, this, [this] {
        if (m_care)
            m_care->touch(this);
    });
}

// With the client (its child): only pointers are used, ~QAbstractSocket() has run.
ClientTie::~ClientTie()
{
    forget();
}

void ClientTie::attachToCare()
{
    if (m_care)
        return;
    const SharedLocker lock(&m_shared->mutex);
    if (!m_shared->server || !m_shared->clients.contains(m_client))
        return;
    ClientCare *&care = m_shared->cares[QThread::currentThread()];
    if (!care)
        care = new ClientCare(m_shared);
    m_care = care;
    m_care->attach(this);
}

void ClientTie::detachFromCare()
{
    if (ClientCare *care = std::exchange(m_care, nullptr))
        care->detach(this);
}

bool ClientTie::event(QEvent *event)
{
    if (event->type() == QEvent::ThreadChange) {
        // Sent in the old thread, just before the move. The queued call
        // moves along with this object and runs in the new thread.
        detachFromCare();
        QMetaObject::invokeMethod(
                this, [this] { attachToCare(); }, Qt::QueuedConnection);
    }
    return QObject::event(event);
}

void ClientTie::forget()
{
    detachFromCare();
    const SharedLocker lock(&m_shared->mutex);
    m_shared->clients.remove(m_client);
}

bool ClientTie::lose(ClientLossReason reason, const ConnectionHealth &health)
{
    const SharedLocker lock(&m_shared->mutex);
    const auto found = m_shared->clients.find(m_client);
    if (found == m_shared->clients.end() || found->lost)
        return false; // already lost, or gone
    KeepAliveServer *const server = m_shared->server;
    // Only a client in the server's thread can be in its pending queue (it
    // is the server's child); one the application moved away is its own.
    const bool pending = found->pending && server && server->thread() == QThread::currentThread();
    // Still counted until it disconnects (or is deleted, if pending).
    found->lost = true;
    detachFromCare();
    if (!server)
        return false;
    // Out of the queue before the signal: a handler that takes the pending
    // connections must not get the one that is about to be deleted.
    if (pending)
        KeepAliveServerPrivate::rebuildPendingQueue(server, AcceptState(server), nullptr, m_client);
    Q_EMIT server->clientLost(m_client, reason, health);
    if (pending)
        m_client->deleteLater();
    return true;
}

bool ClientTie::reap(milliseconds timeout)
{
    KeepAliveSocket *const client = m_client;
    // Activity is bytes reaching the kernel: Qt stops reading, and
    // readyRead() stops, while the read buffer is full (setReadBufferSize()).
    const ConnectionHealth health = client->connectionHealth();
    if (health.sinceLastDataReceived && *health.sinceLastDataReceived < timeout)
        return false;
    // Nothing received is lost, and the client gets a FIN, not a RST.
    if (auto *engine = client->findChild<KeepAliveEngine *>(QString(), Qt::FindDirectChildrenOnly))
        engine->readBeforeClose();
    if (!lose(ClientLossReason::IdleTimeout, client->connectionHealth())
        || client->state() == QAbstractSocket::UnconnectedState) {
        return true;
    }
    client->disconnectFromHost();
    if (client->state() == QAbstractSocket::ClosingState) {
        // Our queued data could not leave yet.
        QTimer::singleShot(CloseGrace, client, [client] {
            if (client->state() == QAbstractSocket::ClosingState)
                client->abort();
        });
    }
    return true;
}

KeepAliveServerPrivate::~KeepAliveServerPrivate()
{
    const SharedLocker lock(&shared->mutex);
    shared->server = nullptr;
    // Each care lets go of its clients in its own thread (at once in this
    // one); clients still parented to the server are deleted with it next.
    const auto cares = std::exchange(shared->cares, {});
    for (ClientCare *care : cares)
        QMetaObject::invokeMethod(care, [care] { care->release(); });
}

void KeepAliveServerPrivate::reject(const QString &message)
{
    settingErrorString = message;
    qCWarning(lcKeepAlive).noquote() << message;
}

bool KeepAliveServerPrivate::addClient(KeepAliveSocket *client)
{
    if (maxClients > 0 && q->clientCount() >= maxClients) {
        refuse(client);
        return false;
    }
    auto *tie = new ClientTie(client, shared);
    {
        const SharedLocker lock(&shared->mutex);
        shared->clients.insert(client, {});
    }
    tie->attachToCare();
    q->addPendingConnection(client);
    return true;
}

void KeepAliveServerPrivate::refuse(KeepAliveSocket *client)
{
    qCWarning(lcKeepAlive).nospace().noquote()
            << "refused client " << client->peerAddress().toString() << ":" << client->peerPort()
            << ": the server already has " << q->clientCount() << " clients (maxClients "
            << maxClients << ")";
    Q_EMIT q->clientLost(client, ClientLossReason::RefusedOverLimit, ConnectionHealth());
    client->abort();
    client->deleteLater();
}

void KeepAliveServerPrivate::rebuildPendingQueue(KeepAliveServer *server,
                                                 const AcceptState &accepting, QTcpSocket *first,
                                                 const QTcpSocket *dropped)
{
    // QTcpServer offers no removal or peeking: the queue is taken whole and
    // put back. Taking it makes QTcpServer accept again (as any
    // nextPendingConnection() does) and putting it back announces each
    // socket again (pendingConnectionAvailable()); an application that
    // paused accepting, or counts announcements, must see neither.
    QList<QTcpSocket *> queue;
    while (QTcpSocket *socket = server->QTcpServer::nextPendingConnection())
        queue.append(socket);
    {
        // Only the server's thread emits its signals while the shared lock is held.
        const QSignalBlocker quiet(server);
        if (first)
            server->addPendingConnection(first);
        for (QTcpSocket *socket : std::as_const(queue)) {
            if (socket != dropped)
                server->addPendingConnection(socket);
        }
    }
    accepting.restore();
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
    d->idleTimeout = timeout;
    {
        const SharedLocker lock(&d->shared->mutex);
        // GCC 12 at -O3 (seen with MinGW-w64) takes this store for a write
        // into a region of size 0 (-Wstringop-overflow, a false positive).
        QT_WARNING_PUSH
        QT_WARNING_DISABLE_GCC("-Wstringop-overflow")
        d->shared->idleTimeoutMs = timeout.count();
        QT_WARNING_POP
        // Directly for this thread's care, queued for the others.
        for (ClientCare *care : std::as_const(d->shared->cares))
            QMetaObject::invokeMethod(care, [care] { care->refresh(); });
    }
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
    const SharedLocker lock(&d->shared->mutex);
    return int(d->shared->clients.size());
}

QString KeepAliveServer::settingErrorString() const
{
    return d->settingErrorString;
}

KeepAliveSocket *KeepAliveServer::nextPendingConnection()
{
    if (!hasPendingConnections())
        return nullptr;
    const AcceptState accepting(this);
    QTcpSocket *next = QTcpServer::nextPendingConnection();
    if (!next)
        return nullptr;
    // A subclass may queue plain QTcpSockets with addPendingConnection():
    // one goes back to the front, for QTcpServer::nextPendingConnection().
    auto *client = qobject_cast<KeepAliveSocket *>(next);
    const SharedLocker lock(&d->shared->mutex);
    if (!client) {
        KeepAliveServerPrivate::rebuildPendingQueue(this, accepting, next, nullptr);
        return nullptr;
    }
    const auto found = d->shared->clients.find(client);
    if (found != d->shared->clients.end())
        found->pending = false;
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
    d->addClient(client);
}

bool KeepAliveServer::addPendingClient(KeepAliveSocket *client)
{
    if (!client || client->state() != QAbstractSocket::ConnectedState
        || client->thread() != thread()) {
        qCWarning(lcKeepAlive).noquote()
                << "KeepAliveServer::addPendingClient: the client must be a connected socket "
                   "in the server's thread";
        return false;
    }
    {
        const SharedLocker lock(&d->shared->mutex);
        if (d->shared->clients.contains(client)) {
            qCWarning(lcKeepAlive).noquote()
                    << "KeepAliveServer::addPendingClient: the client is already in the "
                       "server's care";
            return false;
        }
    }
    return d->addClient(client);
}
