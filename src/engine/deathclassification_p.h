// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the one place that turns the kernel's evidence into a reason and
// a message. Pure functions, unit-tested directly. Not installed.

#include "connectionhealth.h"
#include "keepaliveoptions.h"
#include "keepaliveplatform_p.h"
#include "qterrors_p.h"
#include "qtkeepalive.h"

#include <QtNetwork/QAbstractSocket>

#include <chrono>

//! What the kernel showed just before Qt's read of a failed socket.
struct DeathEvidence
{
    ConnectionHealth health;  //!< TCP_INFO while the descriptor was still open
    bool sendStalled = false; //!< the peer was not accepting our data (slow-reader guard active)
    //! Data was outstanding (the guard's watch ran, or a blocking wait began with data queued).
    bool dataOutstanding = false;
    //! Keepalive was off: only retransmissions could time out.
    bool keepAliveOff = false;
};

//! Where the OS error given to classifyDeadPeer() comes from.
enum class OsErrorSource {
    //! The error of Qt's failing read itself (POSIX errno): checked against Qt's code.
    QtRead,
    /*!
        A pending error seen some other way than by a look just before Qt's
        read (the public-API-only mode's view after the close); nothing seen:
        Qt's code is all there is.
    */
    SeenBeforeRead,
    /*!
        The look just before Qt's read (Windows: every notification and every
        blocking wait looks, see KeepAlivePlatform::lastError()): the error it
        saw, or None when it saw none, and then a read that met "remote host
        closed" met the peer's orderly end-of-file (Qt's Windows engine reads
        a FIN, a reset and, under Wine, a keepalive death all as 0 bytes).
    */
    LookedBeforeRead,
};

/*!
    Maps the evidence of a dead connection to a reason. \a qtError is what
    Qt's read reported, \a osError the error of that read (None when it was
    cleared before the read and not set by it), or on Windows the error seen
    before the read. Returns None when the evidence does not show a dead peer.
*/
QtKeepAlive::DeadPeerReason classifyDeadPeer(QAbstractSocket::SocketError qtError,
                                             KeepAlivePlatform::OsError osError,
                                             const DeathEvidence &evidence);
//! classifyDeadPeer() for an error from \a source, whatever the running platform.
QtKeepAlive::DeadPeerReason classifyDeadPeer(QAbstractSocket::SocketError qtError,
                                             KeepAlivePlatform::OsError osError,
                                             const DeathEvidence &evidence, OsErrorSource source);

//! The errorString() for \a reason, naming the settings that produced it.
QString deadPeerMessage(QtKeepAlive::DeadPeerReason reason, const KeepAliveOptions &applied,
                        const DeathEvidence &evidence, const QString &qtErrorString);

/*!
    The errorString() of a HeartbeatTimeout: \a missed heartbeats sent
    \a interval apart went unanswered (KeepAliveHeartbeat).
*/
QString heartbeatDeathMessage(int missed, std::chrono::milliseconds interval);
