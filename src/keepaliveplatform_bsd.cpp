// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// macOS (xnu): SO_KEEPALIVE, TCP_KEEPALIVE (idle), TCP_KEEPINTVL, TCP_KEEPCNT,
// TCP_RXT_CONNDROPTIME, TCP_CONNECTION_INFO.
// FreeBSD: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_INFO; no
// per-socket retransmission bound.
#include "keepaliveplatform_p.h"
#include "keepaliveplatform_posix_p.h"

#include <QtCore/QStringList>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(Q_OS_FREEBSD)
#  include <sys/sysctl.h>
#elif !defined(Q_OS_DARWIN)
#  error "keepaliveplatform_bsd.cpp implements macOS and FreeBSD only"
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAlivePlatform {

namespace {

using Field = KeepAliveOptions::Field;

#if defined(Q_OS_DARWIN)
constexpr int IdleOption = TCP_KEEPALIVE; // xnu's name for TCP_KEEPIDLE
constexpr const char *IdleOptionName = "TCP_KEEPALIVE";
#else
constexpr int IdleOption = TCP_KEEPIDLE;
constexpr const char *IdleOptionName = "TCP_KEEPIDLE";
#endif

ConnectionHealth::TcpState tcpState(int state)
{
    using S = ConnectionHealth::TcpState;
    // TCPS_* of netinet/tcp_fsm.h (4.4BSD numbering, the same on xnu and FreeBSD).
    switch (state) {
    case 0:
        return S::Closed;
    case 1:
        return S::Listen;
    case 2:
        return S::SynSent;
    case 3:
        return S::SynReceived;
    case 4:
        return S::Established;
    case 5:
        return S::CloseWait;
    case 6:
        return S::FinWait1;
    case 7:
        return S::Closing;
    case 8:
        return S::LastAck;
    case 9:
        return S::FinWait2;
    case 10:
        return S::TimeWait;
    default:
        return S::Unknown;
    }
}

Limits computeLimits()
{
#if defined(Q_OS_DARWIN)
    // xnu accepts TCP_KEEPALIVE/TCP_KEEPINTVL up to UINT32_MAX / 1000 s and
    // stores milliseconds, but its timers compare 32-bit millisecond stamps as
    // signed differences: INT32_MAX ms is the longest that behaves. The same
    // holds for TCP_RXT_CONNDROPTIME, which only rejects negative values.
    // TCP_KEEPCNT: 0..INT32_MAX, 0 meaning the system default.
    // The user timeout starts at the library's 1 s minimum (see
    // KeepAliveOptions::setUserTimeout()).
    const milliseconds longest = duration_cast<std::chrono::seconds>(milliseconds(INT_MAX));
    const DurationLimit wholeSeconds{1ms, longest, 1s};
    const DurationLimit userTimeout{1s, longest, 1s};
    return Limits{wholeSeconds, wholeSeconds, userTimeout, 1, INT_MAX, 0};
#else
    // FreeBSD takes seconds and multiplies by hz (EINVAL above UINT_MAX / hz);
    // the keepalive callout takes an int tick count, so INT_MAX / hz is the
    // longest that behaves. TCP_KEEPCNT is an unchecked u_int, 0 meaning the
    // system default. There is no per-socket retransmission bound: the user
    // timeout is only held to the library's 1 s minimum (see
    // KeepAliveOptions::setUserTimeout()), and apply() reports an explicit one.
    int hz = 0;
    size_t length = sizeof hz;
    if (::sysctlbyname("kern.hz", &hz, &length, nullptr, 0) != 0 || hz <= 0)
        hz = 1000; // FreeBSD's default HZ
    const DurationLimit wholeSeconds{1ms, std::chrono::seconds(INT_MAX / hz), 1s};
    const DurationLimit unbounded{1s, milliseconds::max(), 1ms};
    return Limits{wholeSeconds, wholeSeconds, unbounded, 1, INT_MAX, 0};
#endif
}

// Called only after poll() reported POLLHUP, i.e. the read side is shut.
bool eofCarriesError(int descriptor)
{
    // kqueue(2): for a socket whose read side is shut, EVFILT_READ sets EV_EOF
    // and returns so_error in fflags without clearing it (unlike SO_ERROR).
    const int queue = ::kqueue();
    if (queue < 0)
        return false;
    struct kevent change;
    EV_SET(&change, uintptr_t(descriptor), EVFILT_READ, EV_ADD, 0, 0, nullptr);
    struct kevent event;
    const timespec immediately{0, 0};
    int ready;
    do {
        ready = ::kevent(queue, &change, 1, &event, 1, &immediately);
    } while (ready < 0 && errno == EINTR);
    ::close(queue);
    return ready > 0 && !(event.flags & EV_ERROR) && (event.flags & EV_EOF) && event.fflags != 0;
}

} // namespace

const Limits &limits()
{
    static const Limits bsdLimits = computeLimits();
    return bsdLimits;
}

KeepAliveOptions::Fields supportedFields()
{
    KeepAliveOptions::Fields fields = KeepAliveOptions::Fields(Field::Enabled) | Field::Idle
            | Field::Interval | Field::ProbeCount;
#if defined(Q_OS_DARWIN)
    fields |= Field::UserTimeout;
#endif
    return fields;
}

KeepAliveOptions::Fields readableFields()
{
    // Every option that can be set can be read back; unset ones read as the system default.
    return supportedFields();
}

ApplyResult apply(qintptr descriptor, const KeepAliveOptions &options)
{
    ApplyResult result;
    QStringList messages;
    auto attempt = [&](Field field, const char *name, int level, int option, int value) {
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
    attempt(Field::Enabled, "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, options.isEnabled() ? 1 : 0);
    // The timing options are set even when keepalive is off, so that turning
    // it on later (e.g. through QAbstractSocket::KeepAliveOption) uses them.
    attempt(Field::Idle, IdleOptionName, IPPROTO_TCP, IdleOption,
            Posix::seconds(options.idle(), l.idle));
    attempt(Field::Interval, "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL,
            Posix::seconds(options.interval(), l.interval));
    attempt(Field::ProbeCount, "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, options.probeCount());
#if defined(Q_OS_DARWIN)
    // Counts from the first retransmission of unacknowledged data; 0 = off.
    attempt(Field::UserTimeout, "TCP_RXT_CONNDROPTIME", IPPROTO_TCP, TCP_RXT_CONNDROPTIME,
            Posix::seconds(options.userTimeout(), l.userTimeout));
#else
    // Automatic mode only bounds retransmissions where the platform can: not
    // applied, not an error (readBack() shows it unknown). A bound the caller
    // asked for explicitly is reported, never silently dropped.
    if (options.userTimeoutMode() == KeepAliveOptions::UserTimeoutMode::Explicit
        && options.userTimeout() > 0ms) {
        result.refused |= Field::UserTimeout;
        messages << QStringLiteral("user timeout = %1 ms refused: FreeBSD has no per-socket "
                                   "retransmission timeout (no TCP_USER_TIMEOUT)")
                            .arg(options.userTimeout().count());
    }
#endif
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
    if (Posix::getInt(descriptor, IPPROTO_TCP, IdleOption, &value)) {
        options.idle = std::chrono::seconds(value);
    }
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_KEEPINTVL, &value)) {
        options.interval = std::chrono::seconds(value);
    }
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_KEEPCNT, &value)) {
        options.probeCount = int(value);
    }
#if defined(Q_OS_DARWIN)
    if (Posix::getInt(descriptor, IPPROTO_TCP, TCP_RXT_CONNDROPTIME, &value)) {
        options.userTimeout = std::chrono::seconds(std::max(value, 0)); // 0: off
    }
#endif
    return options;
}

bool setUserTimeout(qintptr descriptor, milliseconds timeout)
{
#if defined(Q_OS_DARWIN)
    return Posix::setInt(descriptor, IPPROTO_TCP, TCP_RXT_CONNDROPTIME,
                         seconds(timeout, limits().userTimeout));
#else
    Q_UNUSED(descriptor);
    return timeout <= 0ms; // "off" is all FreeBSD has
#endif
}

bool hasPendingError(qintptr descriptor)
{
    // Unlike Linux, neither xnu nor FreeBSD reports a socket error as POLLERR:
    // a dead connection shows as POLLHUP, and so does an orderly close on
    // macOS. poll() stays the one cheap call on a healthy socket; only after
    // POLLHUP does kqueue tell an error from a FIN. SO_ERROR would consume
    // the error that Qt's own read must still see.
    if (!(Posix::pollNow(descriptor) & POLLHUP))
        return false;
    return eofCarriesError(int(descriptor));
}

ConnectionHealth health(qintptr descriptor)
{
    ConnectionHealth health;
    if (descriptor < 0)
        return health;
#if defined(Q_OS_DARWIN)
    // TCP_CONNECTION_INFO (macOS 10.11+) is the public subset of xnu's TCP_INFO:
    // RTTs in milliseconds, no probe, backoff, unacked or per-direction
    // timestamps. Those stay empty; tcpi_snd_sbbytes counts in-flight data too,
    // so it is no "not sent" figure either.
    tcp_connection_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(int(descriptor), IPPROTO_TCP, TCP_CONNECTION_INFO, &info, &length) != 0)
        return health;
    health.state = tcpState(info.tcpi_state);
    health.rtt = milliseconds(info.tcpi_srtt);
    health.rttVariance = milliseconds(info.tcpi_rttvar);
    // Appended in a later release; an older kernel returns a shorter struct.
    if (length >= offsetof(tcp_connection_info, tcpi_txretransmitpackets)
                + sizeof info.tcpi_txretransmitpackets)
        health.totalRetransmits =
                quint32(std::min<quint64>(info.tcpi_txretransmitpackets, UINT32_MAX));
#else
    // FreeBSD fills only the fields without a "__" prefix. tcpi_last_data_recv
    // is left out: it is the time since any segment (not data) arrived, in
    // microseconds that wrap after 71 minutes.
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(int(descriptor), IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
        return health;
    health.state = tcpState(info.tcpi_state);
    health.rtt = microseconds(info.tcpi_rtt);
    health.rttVariance = microseconds(info.tcpi_rttvar);
    health.totalRetransmits = info.tcpi_snd_rexmitpack;
#endif
    return health;
}

} // namespace KeepAlivePlatform
