// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "connectionhealth.h"
#include "keepaliveoptions.h"
#include "qtkeepalive.h"
#include "qtkeepalive_global.h"

#include <QtNetwork/qtnetworkglobal.h>

#if QT_CONFIG(ssl)

#  include "keepalivesslsocket.h"

#  include <QtNetwork/QSslServer>

#  include <chrono>
#  include <memory>

class KeepAliveSslServerPrivate;

/*!
    \class KeepAliveSslServer
    \brief KeepAliveServer for TLS: a QSslServer that hands out
    KeepAliveSslSocket clients once their handshake is done, reports every
    client it loses with a reason, reaps idle clients, limits their number,
    and drops handshakes that do not finish.

    Why a QSslServer: it is what Qt's TLS servers already are. Set the
    certificate and key with setSslConfiguration() before listen(), connect
    to QSslServer's signals (sslErrors(), peerVerifyError(), errorOccurred(),
    alertReceived(), startedEncryptionHandshake(), ...), and pass it wherever
    a QSslServer or QTcpServer is taken. Those signals come as QSslServer
    emits them, with the KeepAliveSslSocket as their socket.

    Everything KeepAliveServer documents holds here, written once for both
    classes: keepAliveOptions() on every accepted connection (applied as it
    is accepted, before the handshake), clientLost() exactly once per lost
    client with the reason, before the disconnected() handlers; idle
    reaping with one timer per server and thread; maxClients(); clients in
    other threads; QTcpServer's pending queue semantics.

    \section The handshake
    An accepted connection starts the server's handshake at once
    (startedEncryptionHandshake()). It is handed out by
    nextPendingConnection() only when the handshake is done (encrypted()),
    and only then is its idleness counted (idleTimeout()). Every accepted
    connection either reaches the pending queue or is reported lost:
    - a handshake not done within handshakeTimeout() (a client that
      connects and sends nothing, or stalls halfway): clientLost() with
      HandshakeTimeout, then errorOccurred(socket, SocketTimeoutError) as
      QSslServer emits it; the connection is then aborted;
    - a handshake that fails (a bad certificate, a client that is not
      speaking TLS, a close before the end): clientLost() with
      HandshakeFailed, then QSslServer's errorOccurred();
    - a peer that dies during the handshake: clientLost() with the dead
      peer's reason, as after it.
    clientLost() comes first so that it is never missed: a handler of
    errorOccurred() may abort() or deleteLater() the socket.
    A client in its handshake counts against maxClients() (a handshake costs
    the server as much as a client), for at most handshakeTimeout(): a
    connection over the limit is refused before any TLS work.
    QSslServer's own handshake timer is not used; the timeout is read from
    QSslServer::handshakeTimeout(), so setting it through a QSslServer
    pointer works too (as there, a value <= 0 ends every handshake at once).
*/
class QTKEEPALIVE_EXPORT KeepAliveSslServer : public QSslServer
{
    Q_OBJECT
    //! The options applied to every accepted connection (see setKeepAliveOptions()).
    Q_PROPERTY(KeepAliveOptions keepAliveOptions READ keepAliveOptions WRITE setKeepAliveOptions
                       NOTIFY keepAliveOptionsChanged)
    //! How long a client may send nothing once encrypted; 0 (the default) is off.
    Q_PROPERTY(std::chrono::milliseconds idleTimeout READ idleTimeout WRITE setIdleTimeout NOTIFY
                       idleTimeoutChanged)
    //! The most clients connected at a time, handshakes included; 0 (the default) is unlimited.
    Q_PROPERTY(int maxClients READ maxClients WRITE setMaxClients NOTIFY maxClientsChanged)
    //! How long a handshake may take (default 10 s).
    Q_PROPERTY(std::chrono::milliseconds handshakeTimeout READ handshakeTimeout WRITE
                       setHandshakeTimeout NOTIFY handshakeTimeoutChanged)
    //! The outcome of the last setKeepAliveOptions(); see KeepAliveServer::keepAliveError.
    Q_PROPERTY(QtKeepAlive::KeepAliveError keepAliveError READ keepAliveError NOTIFY
                       keepAliveErrorChanged)

public:
    using KeepAliveError = QtKeepAlive::KeepAliveError;
    using ClientLossReason = QtKeepAlive::ClientLossReason;

    //! The handshake timeout a new server has.
    static constexpr std::chrono::milliseconds DefaultHandshakeTimeout{10000};

    //! Constructs a server that is not listening yet; set its TLS configuration first.
    explicit KeepAliveSslServer(QObject *parent = nullptr);
    //! Closes the server; clients that are still its children are deleted with it.
    ~KeepAliveSslServer() override;

    //! See KeepAliveServer::setKeepAliveOptions().
    bool setKeepAliveOptions(const KeepAliveOptions &options);
    KeepAliveOptions keepAliveOptions() const;
    //! Outcome of the last setKeepAliveOptions(): NoError or InvalidOptions.
    KeepAliveError keepAliveError() const;
    //! Why the last setKeepAliveOptions() was rejected; empty after an accepted one.
    QString keepAliveErrorString() const;

    //! See KeepAliveServer::setIdleTimeout(); counted from the end of the handshake.
    bool setIdleTimeout(std::chrono::milliseconds timeout);
    std::chrono::milliseconds idleTimeout() const;

    //! See KeepAliveServer::setMaxClients(); clients in their handshake count.
    bool setMaxClients(int count);
    int maxClients() const;

    /*!
        Sets how long an accepted connection may take to finish its
        handshake, from 1 ms to INT_MAX ms (24.8 days); it applies to the
        handshakes under way too, counted from their start. Returns false
        for a value outside that range, changing nothing
        (settingErrorString() names the value and the range).
    */
    bool setHandshakeTimeout(std::chrono::milliseconds timeout);
    //! QSslServer::handshakeTimeout(), as a duration.
    std::chrono::milliseconds handshakeTimeout() const;

    //! The clients counted against maxClients(), handshakes included. Thread-safe.
    int clientCount() const;

    //! Why the last call of a setter was rejected; empty if it was accepted.
    QString settingErrorString() const;

    /*!
        Reimplemented to return the KeepAliveSslSocket (a child of the
        server, encrypted). Never returns a client that was lost while
        pending. See KeepAliveServer::nextPendingConnection() for sockets a
        subclass queued itself.
    */
    KeepAliveSslSocket *nextPendingConnection() override;

Q_SIGNALS:
    void keepAliveOptionsChanged(const KeepAliveOptions &options);
    void idleTimeoutChanged(std::chrono::milliseconds timeout);
    void maxClientsChanged(int count);
    void handshakeTimeoutChanged(std::chrono::milliseconds timeout);
    //! See KeepAliveServer::keepAliveErrorChanged().
    void keepAliveErrorChanged(QtKeepAlive::KeepAliveError error);
    //! See KeepAliveServer::keepAliveErrorOccurred(); not for setHandshakeTimeout().
    void keepAliveErrorOccurred(QtKeepAlive::KeepAliveError error);
    /*!
        See KeepAliveServer::clientLost(); also for a client lost in its
        handshake (HandshakeTimeout, HandshakeFailed, or a dead peer's
        reason), which is never handed out and is deleted later by the server.
    */
    void clientLost(KeepAliveSslSocket *client, QtKeepAlive::ClientLossReason reason,
                    const ConnectionHealth &atDeath);

protected:
    /*!
        Reimplemented: creates a KeepAliveSslSocket child with
        sslConfiguration() and keepAliveOptions(), adopts \a socketDescriptor
        and hands it to addPendingClient(). QSslServer::incomingConnection()
        is not called.
    */
    void incomingConnection(qintptr socketDescriptor) override;

    /*!
        Takes \a client, a connected KeepAliveSslSocket in the server's
        thread whose handshake has not started (normally created in an
        incomingConnection() override), into the server's care: counts it,
        starts the server's handshake under handshakeTimeout(), and queues
        it once encrypted. Returns false, with a warning, when \a client is
        null, not connected, in another thread or already in the server's
        care (nothing changes), and when maxClients() are already connected:
        then it is refused (clientLost() with RefusedOverLimit, abort(),
        deleteLater()).
    */
    bool addPendingClient(KeepAliveSslSocket *client);

private:
    friend class KeepAliveSslServerPrivate;
    std::unique_ptr<KeepAliveSslServerPrivate> d;
};

#endif // QT_CONFIG(ssl)
