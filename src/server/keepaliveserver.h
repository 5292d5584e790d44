// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "connectionhealth.h"
#include "keepaliveoptions.h"
#include "keepalivesocket.h"
#include "qtkeepalive.h"
#include "qtkeepalive_global.h"

#include <QtNetwork/QTcpServer>

#include <chrono>
#include <memory>

class KeepAliveServerPrivate;

/*!
    \class KeepAliveServer
    \brief A QTcpServer that hands out KeepAliveSocket clients, reports every
    client it loses with a reason, and can reap idle clients and limit their
    number.

    Every accepted connection becomes a KeepAliveSocket, a child of the
    server, with keepAliveOptions() applied to its descriptor at once.
    Take it with nextPendingConnection() as from a QTcpServer.

    clientLost() is emitted exactly once for every client the server loses:
    a dead peer (each QtKeepAlive::DeadPeerReason, the application heartbeat
    included), an idle client reaped after idleTimeout(), and a client refused
    because maxClients() were already connected. It comes before the
    disconnected() handlers the application connected to the socket, whether
    or not the socket was taken with nextPendingConnection() yet, and for a
    dead peer before the socket's deadPeer() reaches the application's
    handlers. A dead
    client that was never taken is removed from the pending queue before the
    signal and freed with deleteLater() after it; nextPendingConnection()
    never returns it, not even inside a clientLost() handler. An orderly
    close by the client (FIN) and the application's own close(), abort() or
    disconnectFromHost() are not losses — except inside a
    KeepAliveHeartbeat::heartbeatTimeout() handler, where the heartbeat's
    verdict stands: the client is lost with HeartbeatTimeout.

    \section QTcpServer's semantics
    Everything QTcpServer does is kept: pauseAccepting() holds while
    pending clients die (their removal from the queue does not resume
    accepting, as QTcpServer::nextPendingConnection() would), each client
    is announced once by pendingConnectionAvailable(), and
    maxPendingConnections() counts the pending queue. (In the
    public-API-only mode, see the README, removing a dead pending client
    resumes a paused server.)

    Idle reaping uses one timer per server and thread that has its clients,
    whatever the number of clients: clients are kept in the order of their
    last received bytes, and each check only looks at those that expired.

    \section Threads
    Clients may be handed to other threads: take one with
    nextPendingConnection(), setParent(nullptr), then moveToThread(). It stays
    in the server's care wherever it lives: it counts against maxClients(),
    it is reaped when idle by a timer in its own thread (a busy or blocked
    server thread does not delay it), and its loss is reported. clientLost()
    for a client in another thread is emitted in that thread, where touching
    the client is safe: a handler connected with Qt::DirectConnection runs
    there, before the client's disconnected() handlers; a handler in the
    server's thread (the default Qt::AutoConnection) runs later, when the
    client may already be gone — keep a QPointer, not the raw pointer.
    clientCount() may be called from any thread; the other members, as for
    any QObject, from the server's thread. The server's bookkeeping is locked
    while clientLost() is emitted, so a handler in another thread must not
    wait for the server's thread (Qt::BlockingQueuedConnection). A worker
    thread may finish before its clients: what the server keeps for that
    thread is freed as it finishes, and the clients may be deleted later
    from any thread; they are no longer reaped there (no event loop runs),
    but count until deleted. Once the server is destroyed, the clients it
    no longer owns are the application's alone: no reaping, no clientLost().
*/
class QTKEEPALIVE_EXPORT KeepAliveServer : public QTcpServer
{
    Q_OBJECT
    //! The options applied to every accepted connection (see setKeepAliveOptions()).
    Q_PROPERTY(KeepAliveOptions keepAliveOptions READ keepAliveOptions WRITE setKeepAliveOptions
                       NOTIFY keepAliveOptionsChanged)
    //! How long a client may send nothing before it is closed; 0 (the default) is off.
    Q_PROPERTY(std::chrono::milliseconds idleTimeout READ idleTimeout WRITE setIdleTimeout NOTIFY
                       idleTimeoutChanged)
    //! The most clients connected at a time; 0 (the default) is unlimited.
    Q_PROPERTY(int maxClients READ maxClients WRITE setMaxClients NOTIFY maxClientsChanged)
    /*!
        The outcome of the last setKeepAliveOptions(): NoError or
        InvalidOptions, as KeepAliveSocket's property of that name. The other
        setters do not change it (settingErrorString() covers them all).
    */
    Q_PROPERTY(QtKeepAlive::KeepAliveError keepAliveError READ keepAliveError NOTIFY
                       keepAliveErrorChanged)

public:
    //! Outcome of the last setKeepAliveOptions() (QtKeepAlive::KeepAliveError).
    using KeepAliveError = QtKeepAlive::KeepAliveError;
    //! Why a client was lost (QtKeepAlive::ClientLossReason).
    using ClientLossReason = QtKeepAlive::ClientLossReason;

    //! Constructs a server that is not listening yet; see QTcpServer::listen().
    explicit KeepAliveServer(QObject *parent = nullptr);
    //! Closes the server; clients that are still its children are deleted with it.
    ~KeepAliveServer() override;

    /*!
        Validates \a options exactly as KeepAliveSocket::setKeepAliveOptions()
        does and, if valid, stores them for every connection accepted from now
        on (clients already accepted keep theirs). Returns false for invalid
        options: the previous options stay in force, keepAliveError() is
        InvalidOptions, and keepAliveErrorString() and settingErrorString() name
        the field, value and range; keepAliveErrorOccurred() is emitted, and
        keepAliveErrorChanged() if the error was NoError. Valid options set
        keepAliveError() back to NoError (keepAliveErrorChanged() if it was
        InvalidOptions). A kernel that refuses an option on an
        accepted connection is reported by that socket
        (KeepAliveSocket::keepAliveErrorOccurred()).
    */
    bool setKeepAliveOptions(const KeepAliveOptions &options);
    //! The options applied to every accepted connection.
    KeepAliveOptions keepAliveOptions() const;
    //! Outcome of the last setKeepAliveOptions(): NoError or InvalidOptions.
    KeepAliveError keepAliveError() const;
    //! Why the last setKeepAliveOptions() was rejected; empty after an accepted one.
    QString keepAliveErrorString() const;

    /*!
        Closes a client that has sent nothing for \a timeout, with
        clientLost(client, IdleTimeout, health). Activity is bytes from the
        client reaching the kernel (each read notification Qt acts on, the
        one readyRead() follows, and where the kernel says
        when it last received data — Linux, macOS, FreeBSD — also bytes that
        wait behind a full read buffer, setReadBufferSize(), for which Qt
        emits no readyRead()). The client is closed with
        disconnectFromHost(): what we queued is still sent; every byte it
        sent is read first, past a read buffer limit, and stays readable in
        the clientLost() and disconnected() handlers (so the client gets a
        FIN, not the RST of a close with unread data). No deadPeer() or
        errorOccurred() is emitted. If our queued data cannot leave within
        2 s (the client stopped reading), the socket is abort()ed, which drops
        what it still held. 0 switches reaping off. A new timeout applies to
        the clients already connected too, counting from their last
        activity, also activity while reaping was off.
        Any \a timeout >= 0 is honoured, up to milliseconds::max(): a wait
        longer than a QTimer holds (INT_MAX ms, 24.8 days) is made of several,
        and one beyond the steady clock's range (292 years) never ends.
        Returns false for a negative \a timeout, changing nothing
        (settingErrorString() says why).
    */
    bool setIdleTimeout(std::chrono::milliseconds timeout);
    //! How long a client may send nothing; 0 when reaping is off.
    std::chrono::milliseconds idleTimeout() const;

    /*!
        Limits the clients connected at a time to \a count (0: unlimited).
        Clients count from their acceptance, pending or taken, until they
        disconnect or are destroyed — a client lost (reaped, say) but still
        closing counts until its disconnected(). A connection beyond the limit is refused:
        clientLost(client, RefusedOverLimit, ConnectionHealth()) is emitted
        (peerAddress() is readable in the handler), a warning naming the peer
        and the limit is logged (category \c qtkeepalive.socket), and the
        socket is then abort()ed and deleted later; it never reaches the
        pending queue (QTcpServer still emits newConnection(), and
        nextPendingConnection() returns nullptr for it). The server keeps
        listening; once clients leave, new ones are accepted again. Lowering
        the limit disconnects nobody. Any \a count from 0 to INT_MAX is
        valid. Returns false for a negative \a count, changing nothing
        (settingErrorString() says why).
    */
    bool setMaxClients(int count);
    //! The most clients connected at a time; 0 means unlimited.
    int maxClients() const;

    /*!
        The clients counted against maxClients(): accepted, pending or taken,
        in any thread, not yet disconnected or destroyed. Thread-safe.
    */
    int clientCount() const;

    /*!
        Why the last call of setKeepAliveOptions(), setIdleTimeout() or
        setMaxClients() was rejected; empty if it was accepted.
    */
    QString settingErrorString() const;

    /*!
        Reimplemented to return the KeepAliveSocket (a child of the server).
        Never returns a client that was lost while pending.

        A subclass may queue plain QTcpSockets itself with
        addPendingConnection(). When the next pending connection is one of
        those, this returns nullptr and leaves it first in the queue
        (hasPendingConnections() stays true): take it with
        QTcpServer::nextPendingConnection(), which hands out every pending
        socket whatever its type.
    */
    KeepAliveSocket *nextPendingConnection() override;

Q_SIGNALS:
    //! Emitted when keepAliveOptions() changes.
    void keepAliveOptionsChanged(const KeepAliveOptions &options);
    //! Emitted when idleTimeout() changes.
    void idleTimeoutChanged(std::chrono::milliseconds timeout);
    //! Emitted when maxClients() changes.
    void maxClientsChanged(int count);
    /*!
        Emitted when keepAliveError() changes, back to NoError included
        (before keepAliveOptionsChanged(), as on KeepAliveSocket).
    */
    void keepAliveErrorChanged(QtKeepAlive::KeepAliveError error);
    /*!
        Emitted every time setKeepAliveOptions() rejects options, even if
        keepAliveError() was InvalidOptions already. Rejected values of the
        other setters do not emit it.
    */
    void keepAliveErrorOccurred(QtKeepAlive::KeepAliveError error);
    /*!
        Emitted exactly once for each client the server loses, with the
        \a reason and \a atDeath, the client's connectionHealth() at that
        moment (the snapshot taken at the death for a dead peer; invalid for
        RefusedOverLimit). Emitted in the client's thread (see Threads), before
        the disconnected() handlers the application connected to \a client,
        whether or not it was taken with
        nextPendingConnection(); the bytes the client sent before stay
        readable. A client never taken is already out of the pending queue
        and is deleted later by the server: do not keep its pointer. Never \c delete \a client in a handler; deleteLater()
        is safe.
    */
    void clientLost(KeepAliveSocket *client, QtKeepAlive::ClientLossReason reason,
                    const ConnectionHealth &atDeath);

protected:
    /*!
        Reimplemented: creates a KeepAliveSocket child, gives it
        keepAliveOptions(), adopts \a socketDescriptor and hands it to
        addPendingClient().

        A subclass that creates its own sockets (a KeepAliveSocket subclass,
        say) overrides this without calling it, and hands each connected
        socket to addPendingClient() — not to addPendingConnection(), which
        queues it outside the server's care: not counted, never reaped, its
        loss not reported.
    */
    void incomingConnection(qintptr socketDescriptor) override;

    /*!
        Takes \a client, a connected KeepAliveSocket in the server's thread
        (normally created in an incomingConnection() override), into the
        server's care and the pending queue, as incomingConnection() does
        with the sockets it creates: counted against maxClients(), reaped
        when idle, its loss reported by clientLost(). Its keepalive options
        are its own: give it keepAliveOptions() for the server's. Returns
        false, with a warning, when \a client is null, not connected, in
        another thread or already in the server's care (nothing changes), and
        when maxClients() are already connected: then it is refused as any
        connection over the limit (clientLost() with RefusedOverLimit,
        abort(), deleteLater()).
    */
    bool addPendingClient(KeepAliveSocket *client);

private:
    friend class KeepAliveServerPrivate;
    std::unique_ptr<KeepAliveServerPrivate> d;
};
