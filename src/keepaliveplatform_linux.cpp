// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// Linux: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT, TCP_INFO.
#include "keepaliveplatform_p.h"
#include "keepaliveplatform_posix_p.h"

#include <QtCore/QStringList>

#include <algorithm>
#include <cerrno>
#include <climits>

#include <netinet/in.h>
// <linux/tcp.h> rather than <netinet/tcp.h>: glibc's struct tcp_info lacks tcpi_notsent_bytes.
#include <linux/tcp.h>
#include <poll.h>
#include <sys/socket.h>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAlivePlatform {

namespace {

constexpr auto AllFields = KeepAliveOptions::Fields(KeepAliveOptions::Field::Enabled)
        | KeepAliveOptions::Field::Idle | KeepAliveOptions::Field::Interval
        | KeepAliveOptions::Field::ProbeCount | KeepAliveOptions::Field::UserTimeout;

ConnectionHealth::TcpState tcpState(quint8 state)
{
    using S = ConnectionHealth::TcpState;
    // Values of the kernel's enum in include/net/tcp_states.h.
    switch (state) {
    case 1:
        return S::Established;
    case 2:
        return S::SynSent;
    case 3:
        return S::SynReceived;
    case 4:
        return S::FinWait1;
    case 5:
        return S::FinWait2;
    case 6:
        return S::TimeWait;
    case 7:
        return S::Closed;
    case 8:
        return S::CloseWait;
    case 9:
        return S::LastAck;
    case 10:
        return S::Listen;
    case 11:
        return S::Closing;
    default:
        return S::Unknown;
    }
}

} // namespace

const Limits &limits()
{
    // TCP_KEEPIDLE/TCP_KEEPINTVL: seconds, 1..MAX_TCP_KEEPIDLE (32767), so
    // anything positive is accepted and rounded up; TCP_KEEPCNT:
    // 1..MAX_TCP_KEEPCNT (127); TCP_USER_TIMEOUT: int milliseconds, from the
    // library's 1 s minimum (see KeepAliveOptions::setUserTimeout()).
    static const Limits linuxLimits{
            {1ms, 32767s, 1s}, {1ms, 32767s, 1s}, {1s, milliseconds(INT_MAX), 1ms}, 1, 127, 0,
    };
    return linuxLimits;
}

KeepAliveOptions::Fields supportedFields()
{
    return AllFields;
}

KeepAliveOptions::Fields readableFields()
{
    return AllFields;
}

ApplyResult apply(qintptr descriptor, const KeepAliveOptions &options)
{
    ApplyResult result;
    QStringList messages;
    auto attempt = [&](KeepAliveOptions::Field field, const char *name, int level, int option,
                       int value) {
        if (!Posix::setInt(descriptor, level, option, value)) {
            const int error = errno;
            result.refused |= field;
            messages << QStringLiteral("%1 = %2 refused: %3")
                                .arg(QLatin1String(name))
                                .arg(value)
                                .arg(qt_error_string(error));
        }
    };
    const Limits &l = limits();
    attempt(KeepAliveOptions::Field::Enabled, "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE,
            options.isEnabled() ? 1 : 0);
    // The timing options are set even when keepalive is off, so that turning
    // it on later (e.g. through QAbstractSocket::KeepAliveOption) uses them.
    attempt(KeepAliveOptions::Field::Idle, "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE,
            Posix::seconds(options.idle(), l.idle));
    attempt(KeepAliveOptions::Field::Interval, "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL,
            Posix::seconds(options.interval(), l.interval));
    attempt(KeepAliveOptions::Field::ProbeCount, "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT,
            options.probeCount());
    attempt(KeepAliveOptions::Field::UserTimeout, "TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT,
            int(options.userTimeout().count()));
    result.message = messages.join(QLatin1String("; "));
    return result;
}

EffectiveKeepAliveOptions readBack(qintptr descriptor)
{
    EffectiveKeepAliveOptions options;
    int value = 0;
    if (Posix::getInt(descriptor, SOL_SOCKET, SO_KEEPALIVE, &value)) {
        options.enabled = value != 0;
    }
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_KEEPIDLE, &value)) {
        options.idle = std::chrono::seconds(value);
    }
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_KEEPINTVL, &value)) {
        options.interval = std::chrono::seconds(value);
    }
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_KEEPCNT, &value)) {
        options.probeCount = int(value);
    }
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT, &value)) {
        options.userTimeout = milliseconds(std::max(value, 0)); // 0: off
    }
    return options;
}

bool setUserTimeout(qintptr descriptor, milliseconds timeout)
{
    return Posix::setInt(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT, int(timeout.count()));
}

bool hasPendingError(qintptr descriptor)
{
    // poll() reports a pending sk_err as POLLERR without clearing it, unlike
    // SO_ERROR or a failing recv(): Qt's own read must still see the errno
    // so that errorOccurred() keeps Qt's error code.
    return Posix::pollNow(descriptor) & POLLERR;
}

ConnectionHealth health(qintptr descriptor)
{
    ConnectionHealth health;
    tcp_info info{};
    socklen_t length = sizeof info;
    if (descriptor < 0 || ::getsockopt(int(descriptor), IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
        return health;
    health.state = tcpState(info.tcpi_state);
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

} // namespace KeepAlivePlatform
