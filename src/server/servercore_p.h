// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the server side written once, for KeepAliveServer and
// KeepAliveSslServer. Not installed.

#include "connectionhealth.h"
#include "keepaliveengine_p.h"
#include "keepaliveoptions.h"
#include "qtkeepalive.h"
#include "timeoutqueue_p.h"

#include <QtCore/QObject>

#include <chrono>
#include <functional>
#include <memory>

class QTcpServer;
class QTcpSocket;
class ClientCare;
struct ServerShared;

/*!
    The server's hold on one client: owned by the client's engine, which
    tells it of the client's activity, death, end and moves to another
    thread directly (it needs no connection to the client's signals, and is
    told before the application's handlers run). Destroyed with the engine;
    once the client's connection ends it has let go of everything and no
    longer acts. Carries its own place in its care's order of activity.
*/
class ClientTie final : public KeepAliveEngine::Watcher, public TimeoutQueueLink
{
public:
    //! Ties \a client (a socket class of this library) to the server that shares \a shared.
    ClientTie(QTcpSocket *client, std::shared_ptr<ServerShared> shared);
    ~ClientTie() override;
    Q_DISABLE_COPY_MOVE(ClientTie)

    //! The tie of \a client, if the client is tied to a server.
    static ClientTie *of(QTcpSocket *client);
    //! Joins the care of the current thread, if the client is still the server's and queued.
    void attachToCare();
    /*!
        Reports the loss of the client once, with the shared lock held.
        False if it was lost before, has left, or the server is gone.
    */
    bool lose(QtKeepAlive::ClientLossReason reason, const ConnectionHealth &health);
    //! The client's connectionHealth() (the snapshot at its death, once dead).
    ConnectionHealth health() const;
    /*!
        Called by the care of this thread when the client received nothing
        for \a timeout as far as its read notifications tell: false if the
        kernel says bytes arrived meanwhile (the client is active), else it
        is reaped.
    */
    bool reap(std::chrono::milliseconds timeout);
    void detachFromCare();
    void careReleased() { m_care = nullptr; }

private:
    // KeepAliveEngine::Watcher
    void readActivity() override;
    //! Lost with the matching reason and the snapshot at the death.
    void deadPeer(QtKeepAlive::DeadPeerReason reason) override;
    void connectionEnded() override;
    void threadChanging() override;

    void forget();
    KeepAliveEngine *engine() const;

    friend class ServerCore;
    //! Where the client is on its way to the application.
    enum class Stage : quint8 {
        Admitted, //!< counted, not queued yet (a TLS handshake under way)
        Pending,  //!< in QTcpServer's pending queue
        Taken,    //!< handed out by nextPendingConnection()
    };

    QTcpSocket *const m_client;
    const std::shared_ptr<ServerShared> m_shared;
    ClientCare *m_care = nullptr; //!< the care of this thread; null while moving
    // With the shared lock held:
    Stage m_stage = Stage::Admitted;
    bool m_counted = false; //!< in the server's clientCount(): accepted, not yet disconnected
    bool m_lost = false;    //!< clientLost() was emitted; counted until it disconnects
};

/*!
    Everything a keepalive server does for its clients, whatever their
    class: the settings and their checks, the count and maxClients(), the
    ties that report each loss once, idle reaping with one timer per thread,
    and QTcpServer's pending queue kept honest. The public server classes
    own one and stay thin: they create their sockets, emit their own
    signals, and hand each connected socket to admit() and then queue()
    (at once for plain TCP, after the handshake for TLS).
*/
class ServerCore
{
public:
    //! Emits the public class's clientLost() for \a client.
    using LostSignal = std::function<void(QTcpSocket *client, QtKeepAlive::ClientLossReason reason,
                                          const ConnectionHealth &atDeath)>;
    //! Emits one of the public class's keepAliveError signals.
    using ErrorSignal = std::function<void(QtKeepAlive::KeepAliveError error)>;
    //! The public class's signals, emitted by the core where it decides.
    struct Signals
    {
        LostSignal lost;
        ErrorSignal errorChanged;  //!< keepAliveErrorChanged()
        ErrorSignal errorOccurred; //!< keepAliveErrorOccurred()
    };
    /*!
        The signals of \a server, a KeepAliveServer or KeepAliveSslServer
        handing out \a Socket clients (instantiated where both are complete).
    */
    template<typename Socket, typename Server>
    static Signals signalsOf(Server *server)
    {
        return {[server](QTcpSocket *client, QtKeepAlive::ClientLossReason reason,
                         const ConnectionHealth &atDeath) {
                    Q_EMIT server->clientLost(static_cast<Socket *>(client), reason, atDeath);
                },
                [server](QtKeepAlive::KeepAliveError error) {
                    Q_EMIT server->keepAliveErrorChanged(error);
                },
                [server](QtKeepAlive::KeepAliveError error) {
                    Q_EMIT server->keepAliveErrorOccurred(error);
                }};
    }
    //! What a setter did: the public class emits its NOTIFY signal for Changed.
    enum class Change { Rejected, Unchanged, Changed };

    ServerCore(QTcpServer *server, Signals notify);
    ~ServerCore();
    ServerCore(const ServerCore &) = delete;
    ServerCore &operator=(const ServerCore &) = delete;

    Change setOptions(const KeepAliveOptions &options);
    Change setIdleTimeout(std::chrono::milliseconds timeout);
    Change setMaxClients(int count);
    //! Rejects a setting of the public class: settingErrorString() and a warning.
    void reject(const QString &message);
    //! A setting of the public class was accepted.
    void accept() { m_settingErrorString.clear(); }

    const KeepAliveOptions &options() const { return m_options; }
    QtKeepAlive::KeepAliveError error() const { return m_error; }
    QString errorString() const { return m_errorString; }
    QString settingErrorString() const { return m_settingErrorString; }
    std::chrono::milliseconds idleTimeout() const { return m_idleTimeout; }
    int maxClients() const { return m_maxClients; }
    int clientCount() const;

    /*!
        Whether \a client may be handed to admit() by a subclass's
        addPendingClient() (named \a function in the warning): connected, in
        the server's thread, not yet in its care.
    */
    bool isNewClient(const QTcpSocket *client, const char *function) const;
    /*!
        Counts \a client (connected, in the server's thread, the server's
        child) and ties it to the server, which from now reports its loss
        with its deadPeer(); not queued yet. Over maxClients()
        it is refused instead: clientLost() with RefusedOverLimit, abort(),
        deleteLater(), and false.
    */
    bool admit(QTcpSocket *client);
    //! Puts an admitted \a client into the pending queue and starts its idle care.
    void queue(QTcpSocket *client);
    /*!
        Reports the loss of an admitted \a client with \a reason (a TLS
        handshake that timed out or failed) once; a client not yet queued is
        deleted later. False if it was lost before or is not the server's.
    */
    bool lose(QTcpSocket *client, QtKeepAlive::ClientLossReason reason);
    /*!
        nextPendingConnection(): the next pending connection if it is a
        \a type. Another kind (a plain QTcpSocket a subclass queued) stays
        first in the queue, and nullptr is returned.
    */
    QTcpSocket *takePending(const QMetaObject &type);

private:
    void refuse(QTcpSocket *client);
    //! \a client's tie if this server counts it; with the shared lock held.
    ClientTie *countedTie(QTcpSocket *client) const;
    /*!
        Sets keepAliveError() and its message as KeepAliveSocket does:
        keepAliveErrorChanged() when the error changes (back to NoError
        included), keepAliveErrorOccurred() for every InvalidOptions.
    */
    void setError(QtKeepAlive::KeepAliveError error, const QString &message);

    QTcpServer *const m_server;
    const std::shared_ptr<ServerShared> m_shared;
    const ErrorSignal m_errorChanged;
    const ErrorSignal m_errorOccurred;
    KeepAliveOptions m_options;
    QtKeepAlive::KeepAliveError m_error = QtKeepAlive::KeepAliveError::NoError;
    QString m_errorString;
    QString m_settingErrorString;
    std::chrono::milliseconds m_idleTimeout{0};
    int m_maxClients = 0;
};

//! A setter's result for the public class: notifies with \a notify when it changed anything.
template<typename Notify>
bool notifyChange(ServerCore::Change change, Notify notify)
{
    if (change == ServerCore::Change::Changed)
        notify();
    return change != ServerCore::Change::Rejected;
}
