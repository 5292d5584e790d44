// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: Qt's mapping of OS errors to QAbstractSocket::SocketError, as the
// library reads it back (part of the seam to Qt's socket internals). Not
// installed.

#include "connectionhealth.h"
#include "keepaliveplatform_p.h"

#include <QtNetwork/QAbstractSocket>

/*!
    True where the error of Qt's failing read is still the thread's last
    error (KeepAlivePlatform::lastError()) when errorOccurred() is emitted:
    POSIX errno. Then a cleared error that is still None means the read
    ended at an orderly end-of-file, and an error must match the Qt error
    code Qt derives from it. On Windows Qt's way from the failed recv() to
    errorOccurred() clears it (TlsGetValue): lastError() is then the error
    seen before the read, and Qt's code says nothing about it (a timed-out
    connection reads as NetworkError, or as RemoteHostClosedError where
    recv() gives 0).
*/
bool osErrorSurvivesQtRead();

/*!
    The OS error that Qt's \a qtError most likely came from, for a failed
    read whose own error is unknown: SocketTimeoutError a timeout,
    RemoteHostClosedError a reset (a pending error that Qt read as "remote
    host closed" is a received RST: an orderly FIN never raises POLLERR),
    NetworkError another error; None for the rest.
*/
KeepAlivePlatform::OsError osErrorFromQtError(QAbstractSocket::SocketError qtError);

//! The Qt error that a failed read with \a osError gives (qnativesocketengine_unix.cpp).
QAbstractSocket::SocketError qtErrorFor(KeepAlivePlatform::OsError osError);

/*!
    The public-API-only mode's stand-in for the read's errno: the OS error
    that Qt's \a qtError means, told apart by \a afterClose, the kernel's
    view of the connection after Qt closed its descriptor, and
    \a pendingAfterClose, the socket error Qt's read left pending (both
    through a second handle; invalid and None where there is none). A
    "remote host closed" is a reset when the kernel has closed the
    connection, an orderly close (None) when it holds the peer's FIN or
    cannot say; a RST that answered our data after the peer's FIN leaves
    EPIPE pending behind the end-of-file Qt read (PeerClosed). NetworkError
    hides which ICMP error it was: Other. Any other code (Qt's write path
    has none for ETIMEDOUT) on a connection the kernel closed: TimedOut after
    probes or retransmissions, else Other.
*/
KeepAlivePlatform::OsError osErrorAfterClose(QAbstractSocket::SocketError qtError,
                                             const ConnectionHealth &afterClose,
                                             KeepAlivePlatform::OsError pendingAfterClose);

/*!
    True when \a osError is an error Qt's failing read turns into \a qtError
    (qnativesocketengine_unix.cpp); None matches nothing.
*/
bool osErrorMatchesQtError(KeepAlivePlatform::OsError osError, QAbstractSocket::SocketError qtError);
