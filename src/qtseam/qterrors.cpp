// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "qterrors_p.h"

// Qt's mapping of OS errors to its SocketError codes (qnativesocketengine_unix.cpp,
// qnativesocketengine_win.cpp), as the library relies on it.

using OsError = KeepAlivePlatform::OsError;

bool osErrorSurvivesQtRead()
{
#if defined(Q_OS_WIN)
    return false;
#else
    return true;
#endif
}

// A pending socket error (POLLERR) that Qt read as "remote host closed" is
// a received RST: an orderly FIN never raises POLLERR.
OsError osErrorFromQtError(QAbstractSocket::SocketError qtError)
{
    switch (qtError) {
    case QAbstractSocket::SocketTimeoutError:
        return OsError::TimedOut;
    case QAbstractSocket::RemoteHostClosedError:
        return OsError::Reset;
    case QAbstractSocket::NetworkError:
        return OsError::Other;
    default:
        return OsError::None;
    }
}

// The Qt error that Qt derives from each errno on a failed read; an errno
// that does not match what Qt reported was clobbered and is not used.
bool osErrorMatchesQtError(OsError osError, QAbstractSocket::SocketError qtError)
{
    switch (osError) {
    case OsError::TimedOut:
        return qtError == QAbstractSocket::SocketTimeoutError;
    case OsError::Reset:
        // ECONNRESET reads as "0 bytes", i.e. RemoteHostClosedError.
        return qtError == QAbstractSocket::RemoteHostClosedError;
    case OsError::PeerClosed:
        // EPIPE reads as NetworkError; Qt's write path maps it to
        // RemoteHostClosedError (nativeWrite()).
        return qtError == QAbstractSocket::NetworkError
                || qtError == QAbstractSocket::RemoteHostClosedError;
    case OsError::HostUnreachable:
    case OsError::NetworkUnreachable:
    case OsError::Other:
        return qtError == QAbstractSocket::NetworkError;
    case OsError::None:
        break;
    }
    return false;
}

OsError osErrorAfterClose(QAbstractSocket::SocketError qtError, const ConnectionHealth &afterClose,
                          OsError pendingAfterClose)
{
    if (pendingAfterClose == OsError::PeerClosed)
        return OsError::PeerClosed;
    using State = ConnectionHealth::TcpState;
    // The peer's FIN came first: what followed it (a RST answering our data:
    // EPIPE, NetworkError) is an orderly close too.
    const State state = afterClose.state;
    const bool finReceived = state == State::CloseWait || state == State::LastAck
            || state == State::Closing || state == State::TimeWait;
    switch (qtError) {
    case QAbstractSocket::SocketTimeoutError:
        return OsError::TimedOut;
    case QAbstractSocket::RemoteHostClosedError:
        return state == State::Closed ? OsError::Reset : OsError::None;
    case QAbstractSocket::NetworkError:
        return finReceived ? OsError::PeerClosed : OsError::Other;
    default:
        break;
    }
    // Qt's write path gives no code of its own for ETIMEDOUT (Qt 6.4:
    // UnfinishedSocketOperationError); a connection the kernel closed
    // after probes or retransmissions timed out.
    if (state != State::Closed)
        return OsError::None;
    const bool counted = afterClose.probes.value_or(0) > 0 || afterClose.retransmits.value_or(0) > 0
            || afterClose.backoff.value_or(0) > 0;
    return counted ? OsError::TimedOut : OsError::Other;
}

QAbstractSocket::SocketError qtErrorFor(OsError osError)
{
    switch (osError) {
    case OsError::TimedOut:
        return QAbstractSocket::SocketTimeoutError;
    case OsError::Reset:
        return QAbstractSocket::RemoteHostClosedError;
    default:
        return QAbstractSocket::NetworkError;
    }
}
