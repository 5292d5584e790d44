// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the state behind KeepAliveSocket's d-pointer and the one place
// that turns the kernel's evidence into a DeadPeerReason. Not installed.

#include "keepaliveplatform_p.h"
#include "keepalivesocket.h"
#include "nativetransport_p.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>
#include <QtCore/QTimer>

#include <optional>

QT_BEGIN_NAMESPACE
    class QSocketNotifier;
QT_END_NAMESPACE

Q_DECLARE_LOGGING_CATEGORY(lcKeepAlive)

//! What the kernel showed just before Qt's read of a failed socket.
struct DeathEvidence
{
    ConnectionHealth health;  //!< TCP_INFO while the descriptor was still open
    bool sendStalled = false; //!< the peer was not accepting our data (slow-reader guard active)
    bool dataOutstanding =
            false; //!< data was outstanding when a blocking wait began (health unknown)
};

/*!
    Maps the evidence of a dead connection to a reason. \a qtError is what
    Qt's read reported, \a osError the error of that read (None when unknown).
    Returns None when the evidence does not show a dead peer.
*/
// Exported (but not installed) so that the unit tests can call it directly.
QTKEEPALIVE_EXPORT KeepAliveSocket::DeadPeerReason
classifyDeadPeer(QAbstractSocket::SocketError qtError, KeepAlivePlatform::OsError osError,
                 const DeathEvidence &evidence);

//! The errorString() for \a reason, naming the settings that produced it.
QTKEEPALIVE_EXPORT QString deadPeerMessage(KeepAliveSocket::DeadPeerReason reason,
                                           const KeepAliveOptions &applied,
                                           const DeathEvidence &evidence,
                                           const QString &qtErrorString);

class KeepAliveSocketPrivate
{
public:
    explicit KeepAliveSocketPrivate(KeepAliveSocket *socket);

    // One connection's life: connected() or an adopted descriptor, then its end.
    void startConnection();
    void applyOptions();
    void setKeepAliveError(KeepAliveSocket::KeepAliveError error, const QString &message);
    void setDeadPeerReason(KeepAliveSocket::DeadPeerReason reason);
    bool isUnbuffered() const;
    //! Qt has closed the connection's descriptor; the death is being reported.
    bool connectionEnded() const;
    void onErrorOccurred(QAbstractSocket::SocketError error);
    void onTransportError(QAbstractSocket::SocketError error);
    void reportDeath(QAbstractSocket::SocketError error, KeepAlivePlatform::OsError osError,
                     const DeathEvidence &seen);
    void onDisconnected();
    void onClosing();

    // The look at the kernel before Qt's read consumes a pending error.
    bool inspectNotification(QObject *watched);
    void captureEvidence(qintptr descriptor);
    void letQtReadTheError(QSocketNotifier *reader);
    bool consumePendingDeath();
    void takeUnbufferedDeath(qintptr descriptor);
    void finishUnbufferedClose(QAbstractSocket::SocketState before);

    // Qt stops reading while the read buffer is full or, Unbuffered, while
    // the application has not read: nothing would notice a death then.
    bool qtWillStopReading() const;
    void startPauseWatch();
    void watchPause();

    // Blocking waits bypass the notifiers.
    void beginBlockingWait();

    // Slow-reader guard: see "Slow readers" in keepalivesocket.h.
    std::chrono::milliseconds watchTick() const;
    void startStallWatch();
    void stopStallWatch();
    void watchStall();
    void restoreUserTimeout();

    KeepAliveSocket *const q;
    KeepAliveOptions options;       //!< asked for; applied to the connection whenever one exists
    KeepAliveOptions lastEffective; //!< last read-back announced by effectiveKeepAliveOptionsChanged()
    KeepAliveSocket::KeepAliveError keepAliveError = KeepAliveSocket::KeepAliveError::NoError;
    QString keepAliveErrorString;
    KeepAliveSocket::DeadPeerReason deadPeerReason = KeepAliveSocket::DeadPeerReason::None;

    NativeTransport transport;  //!< the current connection's native TCP connection
    quint64 connection = 0;     //!< counts connections; queued work checks it is still current
    bool deathReported = false; //!< deadPeer() was emitted for the current connection
    std::optional<DeathEvidence> evidence;         //!< set once the kernel shows a pending error
    std::optional<ConnectionHealth> healthAtDeath; //!< what connectionHealth() shows after the death
    //! Unbuffered: the error taken with takePendingError(), for errorOccurred() at the end.
    std::optional<QAbstractSocket::SocketError> unbufferedError;
    bool unreadNotified = false; //!< Unbuffered: Qt announced data the application has not read

    // Children of the socket, so that they follow it to another thread.
    QTimer *const stallTimer;  //!< runs while sent data is outstanding and a user timeout is set
    QTimer *const pauseTimer;  //!< runs while Qt does not read a connection
    QElapsedTimer stallSince;  //!< valid while the send side is stalled
    bool stallBridged = false; //!< the user timeout was pushed forward for a peer that answers
    std::optional<qint64> savedReadBufferSize;  //!< lifted so that Qt reads a dead socket's error
    bool dataOutstandingAtBlockingWait = false; //!< see beginBlockingWait()
    int blockingWaits = 0;                      //!< nesting depth of waitFor...() calls
};
