// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// Linux: the limits of SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and
// TCP_USER_TIMEOUT (set through keepaliveplatform_posix.cpp), POLLERR, TCP_INFO.
#include "keepaliveplatform_posix_p.h"

#include <climits>
#include <cstddef>

#include <netinet/in.h>
// <linux/tcp.h> rather than <netinet/tcp.h>: glibc's struct tcp_info lacks tcpi_notsent_bytes.
#include <linux/tcp.h>
#include <poll.h>
#include <sys/socket.h>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAliveCore {

namespace {

// Indexed by the kernel's enum in include/net/tcp_states.h (from 1).
constexpr TcpState LinuxStates[] = {
        TcpState::Unknown,   TcpState::Established, TcpState::SynSent,  TcpState::SynReceived,
        TcpState::FinWait1,  TcpState::FinWait2,    TcpState::TimeWait, TcpState::Closed,
        TcpState::CloseWait, TcpState::LastAck,     TcpState::Listen,   TcpState::Closing,
};

} // namespace

Limits Posix::limits()
{
    // TCP_KEEPIDLE/TCP_KEEPINTVL: seconds, 1..MAX_TCP_KEEPIDLE (32767), so
    // anything positive is accepted and rounded up; TCP_KEEPCNT:
    // 1..MAX_TCP_KEEPCNT (127); TCP_USER_TIMEOUT: int milliseconds, from the
    // library's 1 s minimum (see KeepAliveOptions::setUserTimeout()).
    return Limits{
            {1ms, 32767s, 1s}, {1ms, 32767s, 1s}, {1s, milliseconds(INT_MAX), 1ms}, 1, 127, 0,
    };
}

bool hasPendingError(NativeHandle handle)
{
    // poll() reports a pending sk_err as POLLERR without clearing it, unlike
    // SO_ERROR or a failing recv(): Qt's own read must still see the errno
    // so that errorOccurred() keeps Qt's error code.
    return Posix::pollNow(handle) & POLLERR;
}

Health health(NativeHandle handle)
{
    Health health;
    tcp_info info{};
    socklen_t length = sizeof info;
    if (handle < 0 || ::getsockopt(int(handle), IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
        return health;
    health.state = tcpStateAt(LinuxStates, info.tcpi_state);
    health.rtt = microseconds(info.tcpi_rtt);
    health.rttVariance = microseconds(info.tcpi_rttvar);
    health.retransmissionTimeout = microseconds(info.tcpi_rto);
    health.retransmits = info.tcpi_retransmits;
    health.totalRetransmits = info.tcpi_total_retrans;
    health.probes = info.tcpi_probes;
    health.backoff = info.tcpi_backoff;
    health.unackedSegments = info.tcpi_unacked;
    // tcpi_notsent_bytes arrived with Linux 4.6; an older kernel returns a shorter struct.
    if (length >= offsetof(tcp_info, tcpi_notsent_bytes) + sizeof info.tcpi_notsent_bytes)
        health.notSentBytes = info.tcpi_notsent_bytes;
    health.sinceLastDataReceived = milliseconds(info.tcpi_last_data_recv);
    health.sinceLastDataSent = milliseconds(info.tcpi_last_data_sent);
    health.sinceLastAckReceived = milliseconds(info.tcpi_last_ack_recv);
    return health;
}

} // namespace KeepAliveCore
