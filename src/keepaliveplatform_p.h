// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the only code that touches socket options. One implementation
// file per platform family (keepaliveplatform_linux.cpp,
// keepaliveplatform_bsd.cpp for macOS/FreeBSD, keepaliveplatform_win.cpp),
// chosen by the build system. Nothing here is installed.

#include "connectionhealth.h"
#include "effectivekeepaliveoptions.h"
#include "keepaliveoptions.h"

#include <QtCore/QString>

#include <chrono>

namespace KeepAlivePlatform {

//! What the running platform accepts for one duration field.
struct DurationLimit
{
    //! The smallest value accepted, before rounding up to the granularity.
    std::chrono::milliseconds minimum;
    std::chrono::milliseconds maximum;
    std::chrono::milliseconds granularity; //!< 1000 ms for seconds-only options
};

struct Limits
{
    DurationLimit idle;
    DurationLimit interval;
    DurationLimit userTimeout;
    int minimumProbeCount;
    int maximumProbeCount;
    //! Probes the platform really sends when the count cannot be set (Windows SIO_KEEPALIVE_VALS: 10), else 0.
    int fixedProbeCount;
};

//! Limits of the running platform (may probe the OS once, then cached).
const Limits &limits();
KeepAliveOptions::Fields supportedFields();
KeepAliveOptions::Fields readableFields();

//! Rounds \a value up to \a limit's granularity.
std::chrono::milliseconds roundUp(std::chrono::milliseconds value, const DurationLimit &limit);

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

/*!
    Cheap check made on every read/write notification: true when the kernel
    holds a pending socket error (the next read would fail). Must not consume
    the error. One system call on a healthy socket; a few more only once the
    connection has hung up (BSD kqueue, Windows peek).
*/
bool hasPendingError(qintptr descriptor);

//! A failed socket call's error, as far as dead-peer classification cares.
enum class OsError {
    None,
    TimedOut,
    Reset,
    //! A RST that answered our data after the peer's FIN (EPIPE): the peer closed, it is not dead.
    PeerClosed,
    HostUnreachable,
    NetworkUnreachable,
    Other,
};

//! Clears the calling thread's last socket error (errno; WSASetLastError(0) on Windows).
void clearLastError();
//! The calling thread's last socket error (errno; WSAGetLastError() on Windows).
OsError lastError();
/*!
    True where the error of Qt's failing read is still the thread's last
    error when errorOccurred() is emitted (POSIX errno). Then a cleared error
    that is still None means the read ended at an orderly end-of-file.
    Windows clears it on the way (TlsGetValue).
*/
bool lastErrorSurvivesQtRead();

/*!
    Takes (and clears) the pending socket error of \a descriptor
    (\c SO_ERROR). Only for Unbuffered sockets, whose death is reported
    before the application reads what the kernel still holds: Qt's later
    read then ends at end-of-file instead of dropping those bytes.
*/
OsError takePendingError(qintptr descriptor);

//! The kernel's view of the connection; invalid where the platform has none.
ConnectionHealth health(qintptr descriptor);

} // namespace KeepAlivePlatform
