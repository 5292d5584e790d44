// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "servercore_p.h"

#include "keepaliveengine_p.h"
#include "keepaliveformat_p.h"
#include "keepalivelogging_p.h"
#include "qtinternals_p.h"
#include "threadscheduler_p.h"

#include <QtCore/QEvent>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMutex>
#include <QtCore/QPointer>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#include <atomic>

using namespace std::chrono;
using namespace std::chrono_literals;
using QtKeepAlive::ClientLossReason;
using QtKeepAlive::KeepAliveError;

namespace {

/*!
    QTcpServer::addPendingConnection(), protected, for the public classes'
    core: a pointer to the member, taken through a class that makes it public.
*/
struct PendingQueue : QTcpServer
{
    using QTcpServer::addPendingConnection;
};
void addPending(QTcpServer *server, QTcpSocket *socket)
{
    constexpr auto add = &PendingQueue::addPendingConnection;
    (server->*add)(socket);
}

// How long an idle client closed with disconnectFromHost() may take to send
// what we queued before it is aborted (a client that stopped reading).
constexpr milliseconds CloseGrace = 2s;

/*!
    Puts \a first (if any) at the front of \a server's pending queue and
    drops \a dropped (if any) from it, with the shared lock held; accepting
    is left as \a accepting found it.
*/
void rebuildPendingQueue(QTcpServer *server, const QtInternals::AcceptState &accepting,
                         QTcpSocket *first, const QTcpSocket *dropped)
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
            addPending(server, first);
        for (QTcpSocket *socket : std::as_const(queue)) {
            if (socket != dropped)
                addPending(server, socket);
        }
    }
    accepting.restore();
}

} // namespace

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
    QTcpServer *server = nullptr; //!< null once the server is destroyed
    ServerCore::LostSignal lost;  //!< the server's clientLost(), while it exists
    //! The clients counted (ClientTie::m_counted): accepted, not yet disconnected or destroyed.
    int clientCount = 0;
    //! The idle-reaping care of each thread that has clients of this server.
    QHash<QThread *, ClientCare *> cares;
    std::atomic<milliseconds::rep> idleTimeoutMs{0};

    milliseconds idleTimeout() const { return milliseconds(idleTimeoutMs.load()); }
};
using SharedLocker = QMutexLocker<QRecursiveMutex>;

/*!
    The server's care of its clients in one thread: their order of last
    activity (each tie carries its own place in it), and one entry in the
    thread's scheduler for the next idle one to reap. Lives in that thread
    and is only used there; deleted when its last client leaves, or with the
    thread.
*/
class ClientCare final : public QObject, public ThreadScheduler::Client
{
public:
    explicit ClientCare(std::shared_ptr<ServerShared> shared)
        : m_shared(std::move(shared)),
          m_scheduler(ThreadScheduler::forCurrentThread())
    {
        m_scheduler->add(this);
    }
    ~ClientCare() override { leaveScheduler(); }

    void attach(ClientTie *tie);
    //! Drops \a tie; the last one out deletes the care.
    void detach(ClientTie *tie);
    void touch(ClientTie *tie);
    //! Picks up a new idle timeout (queued from the server's thread).
    void refresh();
    //! The server is gone: its clients here are no longer cared for.
    void release();

private:
    //! ThreadScheduler::Client: the front client's idle timeout passed.
    void expired(int kind, ThreadScheduler::TimePoint now) override;
    //! ThreadScheduler::Client: this thread is finishing; nothing here may be left to another.
    void schedulerEnded() override;
    void arm();
    void leaveScheduler();
    void leaveShared();
    //! Tells every client here that the care is gone.
    void releaseTies();

    const std::shared_ptr<ServerShared> m_shared;
    ThreadScheduler *m_scheduler; //!< this thread's; null once left
    //! The clients attached, by their last activity, whether or not reaping is on.
    IntrusiveTimeoutQueue<ClientTie> m_idle;
    //! An attached client out of m_idle while expired() looks at it; null once it detaches.
    ClientTie *m_expiring = nullptr;
    std::size_t m_attached = 0;   //!< the clients attached: those in m_idle and m_expiring
    milliseconds m_timeout = 0ms; //!< the idle timeout m_idle is kept for
};

void ClientCare::attach(ClientTie *tie)
{
    ++m_attached;
    m_idle.touch(tie, ThreadScheduler::now());
    refresh();
    arm();
}

void ClientCare::detach(ClientTie *tie)
{
    if (tie == m_expiring)
        m_expiring = nullptr;
    m_idle.remove(tie);
    // The entry stays as it is: due early, it finds nothing and re-arms.
    if (--m_attached > 0)
        return;
    leaveScheduler();
    leaveShared();
    deleteLater();
}

void ClientCare::touch(ClientTie *tie)
{
    // Also while reaping is off: a timeout set later counts from here. The
    // scheduled entry stays: the front can only move later.
    m_idle.touch(tie, ThreadScheduler::now());
}

void ClientCare::refresh()
{
    const milliseconds timeout = m_shared->idleTimeout();
    if (timeout == m_timeout)
        return;
    m_timeout = timeout;
    arm();
}

void ClientCare::releaseTies()
{
    m_idle.forEach([](ClientTie *tie) { tie->careReleased(); });
    m_idle.clear();
    if (ClientTie *tie = std::exchange(m_expiring, nullptr))
        tie->careReleased();
    m_attached = 0;
}

void ClientCare::release()
{
    releaseTies();
    leaveScheduler();
    deleteLater();
}

void ClientCare::arm()
{
    if (!m_scheduler)
        return;
    if (m_idle.isEmpty() || m_timeout <= 0ms)
        m_scheduler->cancelAt(this, ThreadScheduler::IdleReaping);
    else // due when the least recently active client has been idle for the timeout
        m_scheduler->scheduleAt(this, ThreadScheduler::IdleReaping, m_idle.nextExpiry(m_timeout));
}

void ClientCare::expired(int, ThreadScheduler::TimePoint now)
{
    const milliseconds timeout = m_timeout;
    m_idle.expire(now, timeout, [this, timeout](ClientTie *tie) {
        // Reaping may detach the client, delete it, or release the care:
        // m_expiring then no longer names it.
        m_expiring = tie;
        if (!tie->reap(timeout) && m_expiring == tie)
            m_idle.touch(tie, ThreadScheduler::now());
        m_expiring = nullptr;
    });
    arm();
}

void ClientCare::schedulerEnded()
{
    m_scheduler = nullptr;
    releaseTies();
    leaveShared();
    delete this;
}

void ClientCare::leaveScheduler()
{
    if (ThreadScheduler *scheduler = std::exchange(m_scheduler, nullptr))
        scheduler->remove(this);
}

void ClientCare::leaveShared()
{
    const SharedLocker lock(&m_shared->mutex);
    if (m_shared->cares.value(thread()) == this)
        m_shared->cares.remove(thread());
}

ClientTie::ClientTie(QTcpSocket *client, std::shared_ptr<ServerShared> shared)
    : m_client(client),
      m_shared(std::move(shared))
{
}

KeepAliveEngine *ClientTie::engine() const
{
    // The tie's owner: found from the client, not kept (one pointer less per client).
    return KeepAliveEngine::of(m_client);
}

// With the client's engine: only pointers are used, the client is being destroyed.
ClientTie::~ClientTie()
{
    forget();
}

ClientTie *ClientTie::of(QTcpSocket *client)
{
    // Every watcher of a client's engine is a tie.
    KeepAliveEngine *engine = KeepAliveEngine::of(client);
    return engine ? static_cast<ClientTie *>(engine->watcher()) : nullptr;
}

void ClientTie::readActivity()
{
    if (m_care)
        m_care->touch(this);
}

void ClientTie::deadPeer(QtKeepAlive::DeadPeerReason reason)
{
    lose(QtKeepAlive::clientLossReason(reason), health());
}

void ClientTie::connectionEnded()
{
    forget();
}

void ClientTie::threadChanging()
{
    // Called in the old thread, just before the move. The queued call moves
    // along with the client and runs in the new thread, if the client is
    // still tied then.
    detachFromCare();
    QMetaObject::invokeMethod(
            m_client,
            [client = m_client] {
                if (ClientTie *tie = ClientTie::of(client))
                    tie->attachToCare();
            },
            Qt::QueuedConnection);
}

void ClientTie::attachToCare()
{
    if (m_care)
        return;
    const SharedLocker lock(&m_shared->mutex);
    if (!m_shared->server || !m_counted || m_stage == Stage::Admitted)
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

void ClientTie::forget()
{
    detachFromCare();
    const SharedLocker lock(&m_shared->mutex);
    if (std::exchange(m_counted, false))
        --m_shared->clientCount;
}

bool ClientTie::lose(ClientLossReason reason, const ConnectionHealth &health)
{
    // A clientLost() handler may delete the client, and this tie with it, or
    // the server: nothing of them is used after the signal.
    const std::shared_ptr<ServerShared> shared = m_shared;
    const SharedLocker lock(&shared->mutex);
    if (!m_counted || m_lost)
        return false; // already lost, or gone
    QTcpServer *const server = shared->server;
    // Only a client in the server's thread can still be the server's (its
    // child, maybe in its pending queue); one the application took is its own.
    const bool owned =
            m_stage != Stage::Taken && server && server->thread() == QThread::currentThread();
    const bool queued = owned && m_stage == Stage::Pending;
    // Still counted until it disconnects (or is deleted, if owned).
    m_lost = true;
    detachFromCare();
    if (!server)
        return false;
    // Out of the queue before the signal: a handler that takes the pending
    // connections must not get the one that is about to be deleted.
    if (queued)
        rebuildPendingQueue(server, QtInternals::AcceptState(server), nullptr, m_client);
    const QPointer<QTcpSocket> client(m_client);
    const ServerCore::LostSignal lost = shared->lost; // the server may go during the call
    lost(client.data(), reason, health);
    if (owned && client)
        client->deleteLater();
    return true;
}

ConnectionHealth ClientTie::health() const
{
    return engine()->health();
}

bool ClientTie::reap(milliseconds timeout)
{
    // Activity is bytes reaching the kernel: Qt stops reading, and
    // readyRead() stops, while the read buffer is full (setReadBufferSize()).
    const ConnectionHealth before = health();
    if (before.sinceLastDataReceived && *before.sinceLastDataReceived < timeout)
        return false;
    // Handlers run from here on (readyRead(), clientLost(), disconnected())
    // and may delete the client, and this tie with it.
    const QPointer<QTcpSocket> client(m_client);
    // Nothing received is lost, and the client gets a FIN, not a RST.
    engine()->readBeforeClose();
    if (!client)
        return true; // deleted by a readyRead() handler
    if (!lose(ClientLossReason::IdleTimeout, health()) || !client
        || client->state() == QAbstractSocket::UnconnectedState)
        return true;
    client->disconnectFromHost();
    if (client && client->state() == QAbstractSocket::ClosingState) {
        // Our queued data could not leave yet.
        QTimer::singleShot(CloseGrace, client, [closing = client.data()] {
            if (closing->state() == QAbstractSocket::ClosingState)
                closing->abort();
        });
    }
    return true;
}

ServerCore::ServerCore(QTcpServer *server, Signals notify)
    : m_server(server),
      m_shared(std::make_shared<ServerShared>()),
      m_errorChanged(std::move(notify.errorChanged)),
      m_errorOccurred(std::move(notify.errorOccurred))
{
    m_shared->server = server;
    m_shared->lost = std::move(notify.lost);
}

ServerCore::~ServerCore()
{
    const SharedLocker lock(&m_shared->mutex);
    m_shared->server = nullptr;
    m_shared->lost = nullptr;
    // Each care lets go of its clients in its own thread (at once in this
    // one); clients still parented to the server are deleted with it next.
    const auto cares = std::exchange(m_shared->cares, {});
    for (ClientCare *care : cares)
        QMetaObject::invokeMethod(care, [care] { care->release(); });
}

ServerCore::Change ServerCore::setOptions(const KeepAliveOptions &options)
{
    const QString problem = invalidKeepAliveOptionsMessage(options);
    if (!problem.isEmpty()) {
        // settingErrorString() first: the error signals' handlers read both messages.
        reject(problem);
        setError(KeepAliveError::InvalidOptions, problem);
        return Change::Rejected;
    }
    accept();
    setError(KeepAliveError::NoError, QString());
    if (options == m_options)
        return Change::Unchanged;
    m_options = options;
    return Change::Changed;
}

ServerCore::Change ServerCore::setIdleTimeout(milliseconds timeout)
{
    if (timeout < 0ms) {
        reject(QStringLiteral("invalid idle timeout: %1 is negative (0 switches reaping off)")
                       .arg(formatDuration(timeout)));
        return Change::Rejected;
    }
    accept();
    if (timeout == m_idleTimeout)
        return Change::Unchanged;
    m_idleTimeout = timeout;
    const SharedLocker lock(&m_shared->mutex);
    // GCC 12 at -O3 (seen with MinGW-w64) takes this store for a write
    // into a region of size 0 (-Wstringop-overflow, a false positive).
    QT_WARNING_PUSH
    QT_WARNING_DISABLE_GCC("-Wstringop-overflow")
    m_shared->idleTimeoutMs = timeout.count();
    QT_WARNING_POP
    // Directly for this thread's care, queued for the others.
    for (ClientCare *care : std::as_const(m_shared->cares))
        QMetaObject::invokeMethod(care, [care] { care->refresh(); });
    return Change::Changed;
}

ServerCore::Change ServerCore::setMaxClients(int count)
{
    if (count < 0) {
        reject(QStringLiteral("invalid maximum number of clients: %1 is negative "
                              "(0 means unlimited)")
                       .arg(count));
        return Change::Rejected;
    }
    accept();
    if (count == m_maxClients)
        return Change::Unchanged;
    m_maxClients = count;
    return Change::Changed;
}

void ServerCore::setError(KeepAliveError error, const QString &message)
{
    const bool changed = error != m_error;
    m_error = error;
    m_errorString = message;
    if (changed)
        m_errorChanged(error);
    if (error != KeepAliveError::NoError)
        m_errorOccurred(error);
}

void ServerCore::reject(const QString &message)
{
    m_settingErrorString = message;
    qCWarning(lcKeepAlive).noquote() << message;
}

int ServerCore::clientCount() const
{
    const SharedLocker lock(&m_shared->mutex);
    return m_shared->clientCount;
}

bool ServerCore::isNewClient(const QTcpSocket *client, const char *function) const
{
    if (!client || client->state() != QAbstractSocket::ConnectedState
        || client->thread() != m_server->thread()) {
        qCWarning(lcKeepAlive).noquote().nospace()
                << function << ": the client must be a connected socket in the server's thread";
        return false;
    }
    const SharedLocker lock(&m_shared->mutex);
    if (countedTie(const_cast<QTcpSocket *>(client))) {
        qCWarning(lcKeepAlive).noquote().nospace()
                << function << ": the client is already in the server's care";
        return false;
    }
    return true;
}

bool ServerCore::admit(QTcpSocket *client)
{
    if (m_maxClients > 0 && clientCount() >= m_maxClients) {
        refuse(client);
        return false;
    }
    KeepAliveEngine *const engine = KeepAliveEngine::of(client);
    Q_ASSERT(engine);
    auto tie = std::make_unique<ClientTie>(client, m_shared);
    {
        const SharedLocker lock(&m_shared->mutex);
        tie->m_counted = true;
        ++m_shared->clientCount;
    }
    engine->setWatcher(std::move(tie));
    return true;
}

void ServerCore::queue(QTcpSocket *client)
{
    ClientTie *tie = nullptr;
    {
        const SharedLocker lock(&m_shared->mutex);
        tie = countedTie(client);
        if (!tie || tie->m_lost)
            return;
        tie->m_stage = ClientTie::Stage::Pending;
    }
    tie->attachToCare();
    addPending(m_server, client);
}

bool ServerCore::lose(QTcpSocket *client, ClientLossReason reason)
{
    ClientTie *tie = nullptr;
    {
        const SharedLocker lock(&m_shared->mutex);
        tie = countedTie(client);
    }
    return tie && tie->lose(reason, tie->health());
}

ClientTie *ServerCore::countedTie(QTcpSocket *client) const
{
    ClientTie *tie = ClientTie::of(client);
    return tie && tie->m_shared == m_shared && tie->m_counted ? tie : nullptr;
}

void ServerCore::refuse(QTcpSocket *client)
{
    qCWarning(lcKeepAlive).nospace().noquote()
            << "refused client " << client->peerAddress().toString() << ":" << client->peerPort()
            << ": the server already has " << clientCount() << " clients (maxClients "
            << m_maxClients << ")";
    m_shared->lost(client, ClientLossReason::RefusedOverLimit, ConnectionHealth());
    client->abort();
    client->deleteLater();
}

QTcpSocket *ServerCore::takePending(const QMetaObject &type)
{
    if (!m_server->hasPendingConnections())
        return nullptr;
    const QtInternals::AcceptState accepting(m_server);
    QTcpSocket *next = m_server->QTcpServer::nextPendingConnection();
    if (!next)
        return nullptr;
    const SharedLocker lock(&m_shared->mutex);
    // A subclass may queue plain QTcpSockets with addPendingConnection():
    // one goes back to the front, for QTcpServer::nextPendingConnection().
    if (!type.cast(next)) {
        rebuildPendingQueue(m_server, accepting, next, nullptr);
        return nullptr;
    }
    if (ClientTie *tie = countedTie(next))
        tie->m_stage = ClientTie::Stage::Taken;
    return next;
}
