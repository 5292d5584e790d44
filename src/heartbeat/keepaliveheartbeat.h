// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "qtkeepalive_global.h"

#include <QtCore/QByteArray>
#include <QtCore/QObject>
#include <QtCore/QString>

#include <chrono>
#include <functional>
#include <memory>
#include <type_traits>

class QAbstractSocket;
class QHostAddress;
class QWebSocket;
class KeepAliveHeartbeatPrivate;

/*!
    \class KeepAliveHeartbeat
    \brief An application heartbeat for any QAbstractSocket: detects a peer
    that is connected but no longer answers, which TCP keepalive cannot see.

    A hung peer process, a relaying proxy or a TLS terminator keep
    acknowledging TCP segments (keepalive probes included) while nothing of
    the application gets through. The heartbeat watches what the application
    receives instead: after interval() with nothing received it sends the
    configured ping; any received byte proves life and resets the count; no
    ping is sent while data flows in. After maxMissed() pings with nothing
    received it declares the peer dead: heartbeatTimeout(), then the
    connection is ended.

    \b{Detection bound}: a dead peer is reported at most
    interval() × (maxMissed() + 1) + jitter() after the last byte received
    (detectionBound()), plus the event loop's latency.

    \b{Ranges}: every duration is honoured whatever its length: a wait
    longer than a QTimer holds (INT_MAX ms, 24.8 days) is made of several.
    The settings of the ping keep the detection bound within the steady
    clock's range (about 292 years): setInterval(), setMaxMissed() and
    setJitter() reject a value that would exceed it, naming the largest
    allowed. The idle times take any value >= 0; one beyond the clock's
    range never fires.

    The heartbeat only writes what the application configured (pingPayload()
    or pingFunction()); with neither it only detects. It never reads,
    consumes or reorders received data: activity is observed through
    readyRead() and the growth of bytesAvailable(), and the application reads
    the pong like any other message. (A socket whose read buffer is full —
    setReadBufferSize() reached — receives nothing more until the application
    reads, and is then idle as far as the heartbeat can tell.)

    \b{Ending the connection}: disconnectFromHost(), not abort(), so the bytes
    received before the death stay readable in the disconnected() handler.
    If Qt still holds unsent data (the dead peer will never take it), the
    socket is aborted one interval() later (at most 24.8 days).

    \b{KeepAliveSocket}: on a KeepAliveSocket the death is also its
    deadPeer(HeartbeatTimeout), once per connection like every death, with
    errorString() "peer did not answer 3 application heartbeats (interval
    2 s)" and errorOccurred(SocketTimeoutError), in the order heartbeatTimeout()
    → deadPeer() → errorOccurred() → disconnected(). On any other socket Qt's
    error code cannot be set from outside: heartbeatTimeout() and
    disconnected() are emitted, and deadPeerMessage() here has the message
    (on every socket).

    \b{Two messages}: errorString() is about the settings only (why the last
    setter call was rejected), deadPeerMessage() about the connection only
    (why its peer was declared dead). Neither overwrites the other.

    \b{Idle notifications} (as Netty's IdleStateHandler): readerIdle(),
    writerIdle() and allIdle() are emitted after the configured time without
    reading, writing or either, and again every such time while it lasts;
    for applications that act themselves. 0 switches each off.

    \b{QWebSocket}: a heartbeat made for a QWebSocket (Qt WebSockets, a
    client or one a QWebSocketServer handed out) pings with WebSocket ping
    frames (RFC 6455), which every browser and WebSocket library answers by
    itself: nothing is needed from the peer's application. A pong, and
    every frame received, prove life. pingPayload() is the ping frame's
    application data (at most 125 bytes; QWebSocket cuts the rest), and
    pings are sent even when it is empty; pingFunction() is not used. The
    death ends the connection with a close frame (code 1011, the message
    as reason), and then at once: the peer's close frame is not awaited.
    When the QWebSocket runs over a KeepAliveSocket (a KeepAliveServer's
    client handed to QWebSocketServer::handleConnection()), that socket
    reports the death as its own deadPeer(HeartbeatTimeout), and the server
    its clientLost() with HeartbeatTimeout, as for a heartbeat on the
    socket. The library does not link Qt WebSockets: the constructor is
    defined in this header, for the application that does.

    \b{Round-trip time}: roundTripTime() is the time from the last ping
    written to the first answer: the pong for a QWebSocket, the first bytes
    received for any other socket. Only pings that were written count (a
    heartbeat that only detects measures nothing).

    \b{Scheduling}: all heartbeats of a thread share one timer; jitter() (by
    default 10 % of interval()) gives each connection its own phase, so
    thousands of clients reconnected at once do not ping in lockstep.

    The heartbeat is a child of the socket: it follows moveToThread() and is
    deleted with it. Create it in the socket's thread.

    \code
    auto *heartbeat = new KeepAliveHeartbeat(socket);
    heartbeat->setInterval(5s);
    heartbeat->setMaxMissed(3);
    heartbeat->setPingPayload(QByteArrayLiteral("PING\n")); // the peer answers "PONG\n"
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, this, &Client::reconnect);
    \endcode
*/
class QTKEEPALIVE_EXPORT KeepAliveHeartbeat : public QObject
{
    Q_OBJECT
    //! Silence after which a ping is sent (> 0). Default 10 s.
    Q_PROPERTY(std::chrono::milliseconds interval READ interval WRITE setInterval NOTIFY
                       intervalChanged)
    //! Unanswered pings after which the peer is dead (>= 1). Default 3.
    Q_PROPERTY(int maxMissed READ maxMissed WRITE setMaxMissed NOTIFY maxMissedChanged)
    /*!
        Largest random phase added to this connection's schedule (0 ..
        interval()). Default: 10 % of interval(), following interval() until
        set explicitly.
    */
    Q_PROPERTY(std::chrono::milliseconds jitter READ jitter WRITE setJitter NOTIFY jitterChanged)
    //! Bytes written as the ping; empty (default) and no pingFunction(): detect only.
    Q_PROPERTY(QByteArray pingPayload READ pingPayload WRITE setPingPayload NOTIFY pingPayloadChanged)
    //! readerIdle() after this long without receiving; 0 (default): off.
    Q_PROPERTY(std::chrono::milliseconds readerIdleTime READ readerIdleTime WRITE setReaderIdleTime
                       NOTIFY readerIdleTimeChanged)
    //! writerIdle() after this long without writing (bytesWritten()); 0 (default): off.
    Q_PROPERTY(std::chrono::milliseconds writerIdleTime READ writerIdleTime WRITE setWriterIdleTime
                       NOTIFY writerIdleTimeChanged)
    //! allIdle() after this long without receiving or writing; 0 (default): off.
    Q_PROPERTY(std::chrono::milliseconds allIdleTime READ allIdleTime WRITE setAllIdleTime NOTIFY
                       allIdleTimeChanged)
    //! Why the last setter call was rejected; empty after an accepted one.
    Q_PROPERTY(QString errorString READ errorString NOTIFY errorStringChanged)
    /*!
        Why the peer of the watched connection, or of the last one, was
        declared dead, e.g. "peer did not answer 3 application heartbeats
        (interval 2 s)"; empty until then, and again as soon as a new
        connection is watched. Named after KeepAliveSocket's deadPeer(),
        whose HeartbeatTimeout it explains.
    */
    Q_PROPERTY(QString deadPeerMessage READ deadPeerMessage NOTIFY deadPeerMessageChanged)
    /*!
        The last measured round-trip time (see Round-trip time), kept
        across reconnections; -1 µs until the first ping is answered.
    */
    Q_PROPERTY(std::chrono::microseconds roundTripTime READ roundTripTime NOTIFY roundTripTimeChanged)

public:
    //! Writes the application's own ping frame to the socket.
    using PingFunction = std::function<void(QAbstractSocket *socket)>;

    //! Watches \a socket (it becomes the parent); starts with the next, or current, connection.
    explicit KeepAliveHeartbeat(QAbstractSocket *socket);
    /*!
        Watches \a webSocket, a QWebSocket (it becomes the parent), with
        WebSocket ping frames; starts with the next, or current, connection.
        See QWebSocket above. Needs <QtWebSockets/QWebSocket> included.
    */
    template<typename WebSocket,
             std::enable_if_t<std::is_base_of_v<QWebSocket, WebSocket>, bool> = true>
    explicit KeepAliveHeartbeat(WebSocket *webSocket);
    ~KeepAliveHeartbeat() override;

    //! The watched socket; nullptr for a QWebSocket (see watched()).
    QAbstractSocket *socket() const;
    //! The watched QAbstractSocket or QWebSocket.
    QObject *watched() const;

    std::chrono::milliseconds interval() const;
    /*!
        Returns false, with errorString() naming value and range, if
        \a interval <= 0, < jitter(), or so long that detectionBound() would
        exceed the clock's range (see Ranges).
    */
    bool setInterval(std::chrono::milliseconds interval);
    int maxMissed() const;
    /*!
        Returns false, with errorString() naming value and range, if
        \a maxMissed < 1 or so large that detectionBound() would exceed the
        clock's range (with the default 10 s interval: up to about 920
        million).
    */
    bool setMaxMissed(int maxMissed);
    std::chrono::milliseconds jitter() const;
    /*!
        Returns false, with errorString(), unless 0 <= \a jitter <= interval()
        and detectionBound() stays within the clock's range.
    */
    bool setJitter(std::chrono::milliseconds jitter);
    QByteArray pingPayload() const;
    //! Sets the ping; replaces a pingFunction(). Empty: detect only.
    void setPingPayload(const QByteArray &payload);
    PingFunction pingFunction() const;
    //! Sets the ping as a function that writes it; replaces pingPayload(). Empty: detect only.
    void setPingFunction(PingFunction function);

    std::chrono::milliseconds readerIdleTime() const;
    //! Returns false, with errorString(), if \a time < 0; any longer time is honoured.
    bool setReaderIdleTime(std::chrono::milliseconds time);
    std::chrono::milliseconds writerIdleTime() const;
    //! Returns false, with errorString(), if \a time < 0; any longer time is honoured.
    bool setWriterIdleTime(std::chrono::milliseconds time);
    std::chrono::milliseconds allIdleTime() const;
    //! Returns false, with errorString(), if \a time < 0; any longer time is honoured.
    bool setAllIdleTime(std::chrono::milliseconds time);

    //! Why the last setter call was rejected; empty after an accepted one.
    QString errorString() const;
    //! Why the peer of the current or last connection was declared dead; empty otherwise.
    QString deadPeerMessage() const;

    //! interval() × (maxMissed() + 1) + jitter(): the longest a dead peer goes unreported.
    std::chrono::milliseconds detectionBound() const;
    //! Pings sent since the last byte received (0 while data flows).
    int missedCount() const;
    //! See the roundTripTime property.
    std::chrono::microseconds roundTripTime() const;

Q_SIGNALS:
    void intervalChanged(std::chrono::milliseconds interval);
    void maxMissedChanged(int maxMissed);
    void jitterChanged(std::chrono::milliseconds jitter);
    void pingPayloadChanged(const QByteArray &payload);
    void readerIdleTimeChanged(std::chrono::milliseconds time);
    void writerIdleTimeChanged(std::chrono::milliseconds time);
    void allIdleTimeChanged(std::chrono::milliseconds time);
    void errorStringChanged(const QString &errorString);
    /*!
        Emitted when deadPeerMessage() changes: once at a death, before
        heartbeatTimeout(), and once when a new connection is watched after one.
    */
    void deadPeerMessageChanged(const QString &message);
    //! A ping was answered: \a roundTripTime is the new roundTripTime() (also when unchanged).
    void roundTripTimeChanged(std::chrono::microseconds roundTripTime);
    //! A ping was just written (or, detecting only, would have been); \a missed counts them.
    void pingSent(int missed);
    /*!
        The peer did not answer maxMissed() pings: emitted once per
        connection, just before the connection is ended. deadPeerMessage()
        has the message. A handler may end the connection itself (abort(),
        close(), disconnectFromHost()), deleteLater() the socket or delete
        this heartbeat: the verdict stands. The connection is ended anyway,
        and on a KeepAliveSocket deadPeer(HeartbeatTimeout) and
        errorOccurred() still come before disconnected() (a KeepAliveServer
        reports the client lost with HeartbeatTimeout). Never \c delete the
        socket here; use deleteLater().
    */
    void heartbeatTimeout();
    void readerIdle();
    void writerIdle();
    void allIdle();

protected:
    bool event(QEvent *event) override;

private:
    friend class KeepAliveHeartbeatPrivate;
    friend struct WatchedConnection;

    //! What the heartbeat calls on a QWebSocket; filled in where QWebSocket is complete.
    struct WebSocketAccess
    {
        int (*state)(const QObject *webSocket); //!< QAbstractSocket::SocketState
        void (*ping)(QObject *webSocket, const QByteArray &payload);
        void (*close)(QObject *webSocket, const QString &reason); //!< close code 1011
        void (*abort)(QObject *webSocket);
        void (*endpoints)(const QObject *webSocket, QHostAddress *localAddress, quint16 *localPort,
                          QHostAddress *peerAddress, quint16 *peerPort);
    };
    template<typename WebSocket>
    static const WebSocketAccess *webSocketAccess();

    KeepAliveHeartbeat(QObject *webSocket, const WebSocketAccess *access);
    //! A frame was received (\a pong: a pong frame).
    void onWebSocketReceived(bool pong);
    void onWebSocketBytesWritten();
    void onWebSocketStateChanged(int state);

    std::unique_ptr<KeepAliveHeartbeatPrivate> d;
};

template<typename WebSocket>
const KeepAliveHeartbeat::WebSocketAccess *KeepAliveHeartbeat::webSocketAccess()
{
    static const WebSocketAccess access{
            [](const QObject *webSocket) {
                return int(static_cast<const WebSocket *>(webSocket)->state());
            },
            [](QObject *webSocket, const QByteArray &payload) {
                static_cast<WebSocket *>(webSocket)->ping(payload);
            },
            [](QObject *webSocket, const QString &reason) {
                auto *target = static_cast<WebSocket *>(webSocket);
                // 1011: "an unexpected condition prevented the request from
                // being fulfilled", as other WebSocket stacks end a ping timeout.
                target->close(decltype(target->closeCode())(1011), reason);
            },
            [](QObject *webSocket) { static_cast<WebSocket *>(webSocket)->abort(); },
            [](const QObject *webSocket, QHostAddress *localAddress, quint16 *localPort,
               QHostAddress *peerAddress, quint16 *peerPort) {
                const auto *target = static_cast<const WebSocket *>(webSocket);
                *localAddress = target->localAddress();
                *localPort = target->localPort();
                *peerAddress = target->peerAddress();
                *peerPort = target->peerPort();
            },
    };
    return &access;
}

template<typename WebSocket, std::enable_if_t<std::is_base_of_v<QWebSocket, WebSocket>, bool>>
KeepAliveHeartbeat::KeepAliveHeartbeat(WebSocket *webSocket)
    : KeepAliveHeartbeat(static_cast<QObject *>(webSocket), webSocketAccess<WebSocket>())
{
    connect(webSocket, &WebSocket::pong, this, [this] { onWebSocketReceived(true); });
    connect(webSocket, &WebSocket::textFrameReceived, this, [this] { onWebSocketReceived(false); });
    connect(webSocket, &WebSocket::binaryFrameReceived, this,
            [this] { onWebSocketReceived(false); });
    connect(webSocket, &WebSocket::bytesWritten, this, [this] { onWebSocketBytesWritten(); });
    connect(webSocket, &WebSocket::stateChanged, this,
            [this](auto state) { onWebSocketStateChanged(int(state)); });
    onWebSocketStateChanged(int(webSocket->state()));
}
