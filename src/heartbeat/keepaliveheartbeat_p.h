// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the state of one KeepAliveHeartbeat. Not installed.

#include "keepaliveheartbeat.h"
#include "threadscheduler_p.h"

#include <QtCore/QPointer>
#include <QtNetwork/QAbstractSocket>

#include <optional>

class KeepAliveEngine;

//! The connection a heartbeat watches: a QAbstractSocket, or a QWebSocket through its access table.
struct WatchedConnection
{
    QObject *object;
    const KeepAliveHeartbeat::WebSocketAccess *webSocket; //!< nullptr: a QAbstractSocket

    //! The QAbstractSocket; nullptr for a QWebSocket.
    QAbstractSocket *socket() const
    {
        return webSocket ? nullptr : static_cast<QAbstractSocket *>(object);
    }
    QAbstractSocket::SocketState state() const;
    //! Bytes waiting to be read; 0 for a QWebSocket, whose messages come as signals.
    qint64 bytesAvailable() const;
    //! Writes a WebSocket ping frame with \a payload (a QWebSocket only).
    void pingFrame(const QByteArray &payload) const;
    //! Begins the end that keeps received data readable: disconnectFromHost(), a close frame.
    void end(const QString &reason) const;
    void abort() const;
    //! "address port" of the peer, for the log.
    QString peer() const;
};

class KeepAliveHeartbeatPrivate final : public ThreadScheduler::Client
{
public:
    using Clock = ThreadScheduler::Clock;
    //! What a scheduled entry is for; one entry per heartbeat and kind.
    enum class Kind : int {
        Ping = ThreadScheduler::HeartbeatPing,
        ReaderIdle = ThreadScheduler::HeartbeatReaderIdle,
        WriterIdle = ThreadScheduler::HeartbeatWriterIdle,
        AllIdle = ThreadScheduler::HeartbeatAllIdle,
    };

    KeepAliveHeartbeatPrivate(KeepAliveHeartbeat *q, WatchedConnection watched)
        : q(q),
          watched(watched)
    {
    }
    static KeepAliveHeartbeatPrivate *get(KeepAliveHeartbeat *heartbeat)
    {
        return heartbeat->d.get();
    }

    bool reject(const QString &message);
    void accepted();
    void setDeadPeerMessage(const QString &message);
    void start();
    void stop();
    //! Starts or stops watching as the connection's \a state changes.
    void stateChanged(QAbstractSocket::SocketState state);
    //! Life; \a answer: it also answers the last ping (round-trip time).
    void received(Clock::time_point now, bool answer = true);
    void written();
    //! ThreadScheduler::Client: an entry of this heartbeat expired.
    void expired(int kind, Clock::time_point now) override;
    //! ThreadScheduler::Client: the thread ends; nothing is scheduled any more.
    void schedulerEnded() override { scheduler = nullptr; }
    void ping(Clock::time_point now);
    void restartPing();
    void schedulePing(std::chrono::milliseconds timeout, Clock::time_point now);
    void declareDead();
    /*!
        Ends \a watched, dead: the end that keeps received data readable,
        then abort() one \a grace later if Qt still holds it open. Static:
        the heartbeat may be gone after its signal.
    */
    static void endDeadConnection(const WatchedConnection &watched, const QString &message,
                                  std::chrono::milliseconds grace,
                                  const QPointer<KeepAliveHeartbeat> &heartbeat,
                                  quint64 connection);
    void setTime(Kind kind, std::chrono::milliseconds &time, std::chrono::milliseconds value);
    /*!
        Validates and applies one idle time (reader, writer or all): false,
        with the message, for a negative \a value; \a changed tells the caller
        whether to notify.
    */
    bool setIdleTime(Kind kind, const char *name, std::chrono::milliseconds &time,
                     std::chrono::milliseconds value, bool *changed);
    void scheduleIdle(Kind kind, std::chrono::milliseconds time, Clock::time_point now);

    KeepAliveHeartbeat *const q;
    const WatchedConnection watched;
    std::chrono::milliseconds interval{10000};
    int maxMissed = 3;
    std::chrono::milliseconds jitter{1000};
    bool jitterFollowsInterval = true; //!< jitter() is 10 % of interval() until set
    QByteArray payload;
    KeepAliveHeartbeat::PingFunction function;
    std::chrono::milliseconds readerIdleTime{0};
    std::chrono::milliseconds writerIdleTime{0};
    std::chrono::milliseconds allIdleTime{0};
    QString errorString;     //!< the last rejected setting's message
    QString deadPeerMessage; //!< the watched (or last) connection's death

    ThreadScheduler *scheduler = nullptr; //!< set while the connection is watched
    quint64 connection = 0;               //!< counts connections, for queued work
    int missed = 0;
    bool deathReported = false;
    std::chrono::milliseconds phase{0};       //!< this connection's random share of jitter
    std::chrono::milliseconds pingTimeout{0}; //!< the scheduler queue the ping entry is in
    qint64 availableSeen = 0;                 //!< bytesAvailable() when last looked at
    //! When the last ping was written, until its answer.
    std::optional<std::chrono::steady_clock::time_point> pingWrittenAt;
    std::chrono::microseconds roundTripTime{-1};
};
