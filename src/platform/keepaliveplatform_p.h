// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the Qt-facing side of the platform layer, what the rest of the
// library calls. The work is done by the Qt-free platform core
// (keepaliveplatformcore_p.h); keepaliveplatform.cpp only converts between
// KeepAliveOptions / ConnectionHealth / QString and the core's plain types.
// Nothing here is installed.

#include "connectionhealth.h"
#include "effectivekeepaliveoptions.h"
#include "keepaliveoptions.h"
#include "keepaliveplatformcore_p.h"

#include <QtCore/QString>

QT_BEGIN_NAMESPACE
    class QAbstractSocket;
QT_END_NAMESPACE

#include <chrono>

namespace KeepAlivePlatform {

using KeepAliveCore::DurationLimit;
using KeepAliveCore::Limits;

//! Limits of the running platform (may probe the OS once, then cached).
const Limits &limits();

//! Rounds \a value up to \a limit's granularity.
using KeepAliveCore::roundUp;

struct ApplyResult
{
    KeepAliveOptions::Fields refused; //!< fields the kernel rejected
    QString message;                  //!< one line per refusal: option, value, OS error text
};

/*!
    Applies \a options (already validated) to the connected socket
    \a descriptor. Every field is attempted; refusals are collected, not
    fatal. \a options.userTimeout() gives the retransmission bound (0 = off).
*/
ApplyResult apply(qintptr descriptor, const KeepAliveOptions &options);

//! Reads back what the kernel holds; fields the platform cannot read are unknown.
EffectiveKeepAliveOptions readBack(qintptr descriptor);

//! Sets only the retransmission bound (0 = off); used by the slow-reader guard. False if refused.
bool setUserTimeout(qintptr descriptor, std::chrono::milliseconds timeout);

//! See KeepAliveCore::hasPendingError(): true when the next read would fail; consumes nothing.
bool hasPendingError(qintptr descriptor);

//! See KeepAliveCore::awaitReadiness(): blocks until a blocking waitFor...() of Qt's would act.
using KeepAliveCore::awaitReadiness;
using KeepAliveCore::Readiness;

/*!
    Why keepalive is not applied to \a descriptor, which is not a connected
    TCP socket (see KeepAliveCore::classifyDescriptor()), e.g. "descriptor 7
    is a listening TCP socket, not a connected TCP socket"; empty for a TCP
    connection.
*/
QString whyNotTcp(qintptr descriptor);

//! A failed socket call's error, as far as dead-peer classification cares.
using OsError = KeepAliveCore::OsError;

//! Clears the calling thread's last socket error (errno; WSASetLastError(0) on Windows).
using KeepAliveCore::clearLastError;
//! The calling thread's last socket error (errno; WSAGetLastError() on Windows).
using KeepAliveCore::lastError;

//! Takes (and clears) the pending socket error (\c SO_ERROR); only for Unbuffered sockets.
OsError takePendingError(qintptr descriptor);

//! The kernel's view of the connection; invalid where the platform has none.
ConnectionHealth health(qintptr descriptor);

/*!
    True when \a descriptor is a TCP connection whose two ends are exactly
    the local and peer address and port \a socket reports (public API only);
    once a reset has ended the connection, its local end. Behind a proxy socketDescriptor() is not a descriptor, and a
    closed number may belong to another file: neither passes.
*/
bool isConnectionOf(qintptr descriptor, const QAbstractSocket *socket);

//! See KeepAliveCore::retain(): a second handle keeping the kernel's view after Qt's close(); -1 if none.
using KeepAliveCore::retain;
//! See KeepAliveCore::release().
using KeepAliveCore::release;

} // namespace KeepAlivePlatform
