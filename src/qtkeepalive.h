// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "qtkeepalive_global.h"

#include <QtCore/qobjectdefs.h>

/*!
    \namespace QtKeepAlive
    \brief The enums shared by KeepAliveSocket and the classes built on the
    same engine. KeepAliveSocket::DeadPeerReason and
    KeepAliveSocket::KeepAliveError name the same types.
*/
namespace QtKeepAlive {
Q_NAMESPACE_EXPORT(QTKEEPALIVE_EXPORT)

/*!
    Why a connection was declared dead. This is the one reference for the
    reasons; each names the kernel's evidence, the Qt error code
    errorOccurred() carries (unchanged from Qt) and an errorString() example:

    | DeadPeerReason        | Evidence                      | SocketError           | errorString() (example)                                                          |
    |-----------------------|-------------------------------|-----------------------|----------------------------------------------------------------------------------|
    | KeepAliveTimeout      | ETIMEDOUT, probes unanswered  | SocketTimeoutError    | peer did not answer 3 keepalive probes (idle 10 s, interval 2 s)                 |
    | RetransmissionTimeout | ETIMEDOUT, data unacknowledged| SocketTimeoutError    | peer did not acknowledge sent data within the 16 s user timeout (idle 10 s, interval 2 s) |
    | ConnectionReset       | ECONNRESET: a RST             | RemoteHostClosedError | connection reset by peer (RST received)                                          |
    | HostUnreachable       | EHOSTUNREACH                  | NetworkError          | peer host unreachable (ICMP host unreachable until the 16 s user timeout ended the connection) |
    | NetworkUnreachable    | ENETUNREACH                   | NetworkError          | peer network unreachable (ICMP network unreachable until the 16 s user timeout ended the connection) |
    | HeartbeatTimeout      | KeepAliveHeartbeat unanswered | SocketTimeoutError    | peer did not answer 3 application heartbeats (interval 2 s)                      |
    | OtherError            | any other fatal socket error  | as Qt reports it      | connection failed: <Qt's error string>                                           |
*/
enum class DeadPeerReason {
    None,                  //!< no dead peer seen on this connection
    KeepAliveTimeout,      //!< an idle peer stopped answering keepalive probes (ETIMEDOUT)
    RetransmissionTimeout, //!< sent data stayed unacknowledged past the user timeout (ETIMEDOUT)
    ConnectionReset,       //!< the peer, a middlebox or a rebooted peer sent a RST (ECONNRESET)
    //! An ICMP host-unreachable error decided it (EHOSTUNREACH, EHOSTDOWN). Only with data
    //! in flight: Linux ignores ICMP errors quoting a keepalive probe, so an idle peer
    //! behind such a router is reported as KeepAliveTimeout.
    HostUnreachable,
    NetworkUnreachable, //!< as HostUnreachable, for ICMP network unreachable (ENETUNREACH)
    HeartbeatTimeout,   //!< a KeepAliveHeartbeat on the socket went unanswered (maxMissed pings)
    OtherError,         //!< the kernel reported another fatal error; errorString() has it
};
Q_ENUM_NS(DeadPeerReason)

//! Outcome of the last attempt to configure keepalive.
enum class KeepAliveError {
    NoError,        //!< the options were accepted (and, if connected, applied)
    InvalidOptions, //!< the options were rejected; nothing changed
    OptionRefused,  //!< the kernel refused one or more options; see the effective options
    /*!
        KeepAliveSocket::setSocketDescriptor() was given something other than
        a connected TCP socket: a listening or unconnected TCP socket, a UDP
        or UNIX-domain socket, a pipe, a closed descriptor.
        keepAliveErrorString() names what it is. Nothing is applied to it and
        no dead peer is reported on it; options set while it is open are
        stored for the next connection.
    */
    UnsupportedSocket,
};
Q_ENUM_NS(KeepAliveError)

/*!
    Why KeepAliveServer lost a client (KeepAliveServer::clientLost()). The
    first seven values are the client socket's DeadPeerReason
    (clientLossReason() maps them); the last two are the server's own
    decisions.
*/
enum class ClientLossReason {
    KeepAliveTimeout,      //!< DeadPeerReason::KeepAliveTimeout: keepalive probes unanswered
    RetransmissionTimeout, //!< DeadPeerReason::RetransmissionTimeout: sent data unacknowledged
    ConnectionReset,       //!< DeadPeerReason::ConnectionReset: a RST
    HostUnreachable,       //!< DeadPeerReason::HostUnreachable: ICMP host unreachable
    NetworkUnreachable,    //!< DeadPeerReason::NetworkUnreachable: ICMP network unreachable
    HeartbeatTimeout,      //!< DeadPeerReason::HeartbeatTimeout: the heartbeat went unanswered
    OtherError,            //!< DeadPeerReason::OtherError: another fatal socket error
    //! The client received nothing for KeepAliveServer::idleTimeout(); the server closed it
    //! with disconnectFromHost().
    IdleTimeout,
    //! KeepAliveServer::maxClients() were already connected; the server aborted the connection.
    RefusedOverLimit,
    //! A TLS client did not finish its handshake within
    //! KeepAliveSslServer::handshakeTimeout(); the server aborted the connection.
    HandshakeTimeout,
    //! A TLS client's handshake failed (QSslServer::errorOccurred() says how) or the client
    //! closed before its end.
    HandshakeFailed,
};
Q_ENUM_NS(ClientLossReason)

//! The ClientLossReason for a dead peer's \a reason (None, not a death, gives OtherError).
constexpr ClientLossReason clientLossReason(DeadPeerReason reason)
{
    switch (reason) {
    case DeadPeerReason::KeepAliveTimeout:
        return ClientLossReason::KeepAliveTimeout;
    case DeadPeerReason::RetransmissionTimeout:
        return ClientLossReason::RetransmissionTimeout;
    case DeadPeerReason::ConnectionReset:
        return ClientLossReason::ConnectionReset;
    case DeadPeerReason::HostUnreachable:
        return ClientLossReason::HostUnreachable;
    case DeadPeerReason::NetworkUnreachable:
        return ClientLossReason::NetworkUnreachable;
    case DeadPeerReason::HeartbeatTimeout:
        return ClientLossReason::HeartbeatTimeout;
    case DeadPeerReason::None:
    case DeadPeerReason::OtherError:
        break;
    }
    return ClientLossReason::OtherError;
}

} // namespace QtKeepAlive
