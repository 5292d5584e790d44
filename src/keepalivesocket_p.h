// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the state behind KeepAliveSocket's d-pointer and the one place
// that turns the kernel's evidence into a DeadPeerReason. Not installed.

#include "keepaliveplatform_p.h"
#include "keepalivesocket.h"

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

    void applyOptions();
    void setKeepAliveError(KeepAliveSocket::KeepAliveError error, const QString &message);
    bool inspectNotification(QObject *notifier);
    void ensureReadPathRuns(QSocketNotifier *writeNotifier);
    void noteBlockingWait();
    void onErrorOccurred(QAbstractSocket::SocketError error);
    void onDisconnected();

    // Slow-reader guard: see "Slow readers" in keepalivesocket.h.
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

    std::optional<DeathEvidence> evidence; //!< set once the kernel shows a pending error

    QTimer stallTimer;         //!< runs while sent data is outstanding and a user timeout is set
    QElapsedTimer stallSince;  //!< valid while the send side is stalled
    bool stallBridged = false; //!< the user timeout was pushed forward for a peer that answers
    std::optional<qint64> savedReadBufferSize;  //!< lifted so that Qt reads a dead socket's error
    bool dataOutstandingAtBlockingWait = false; //!< see noteBlockingWait()
};
