// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// macOS (xnu) and FreeBSD: the limits of their keepalive options (set through
// keepaliveplatform_posix.cpp: TCP_KEEPALIVE is macOS's idle,
// TCP_RXT_CONNDROPTIME its retransmission bound; FreeBSD 14.0+ bounds
// retransmissions with TCP_MAXUNACKTIME), POLLHUP + kqueue,
// TCP_CONNECTION_INFO (macOS) and TCP_INFO (FreeBSD).
#include "keepaliveplatform_posix_p.h"

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

#if defined(__FreeBSD__)
#  include <sys/sysctl.h>
#elif !defined(__APPLE__)
#  error "keepaliveplatform_bsd.cpp implements macOS and FreeBSD only"
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAliveCore {

namespace {

// Indexed by TCPS_* of netinet/tcp_fsm.h (4.4BSD numbering, the same on xnu and FreeBSD).
constexpr TcpState BsdStates[] = {
        TcpState::Closed,      TcpState::Listen,    TcpState::SynSent,  TcpState::SynReceived,
        TcpState::Established, TcpState::CloseWait, TcpState::FinWait1, TcpState::Closing,
        TcpState::LastAck,     TcpState::FinWait2,  TcpState::TimeWait,
};

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

#if defined(__FreeBSD__)
namespace {

int ticksPerSecond()
{
    int hz = 0;
    size_t length = sizeof hz;
    if (::sysctlbyname("kern.hz", &hz, &length, nullptr, 0) != 0 || hz <= 0)
        hz = 1000; // FreeBSD's default HZ
    return hz;
}

} // namespace

bool Posix::hasMaxUnackTime()
{
#  if defined(TCP_MAXUNACKTIME)
    // Built against 14.0+ headers, but 13.x kernels answer ENOPROTOOPT:
    // asked once, on a fresh socket.
    static const bool accepted = [] {
        const int probe = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        if (probe < 0)
            return false;
        int value = 0;
        socklen_t length = sizeof value;
        const bool ok = ::getsockopt(probe, IPPROTO_TCP, TCP_MAXUNACKTIME, &value, &length) == 0;
        ::close(probe);
        return ok;
    }();
    return accepted;
#  else
    return false;
#  endif
}
#endif

Limits Posix::limits()
{
#if defined(__APPLE__)
    // xnu accepts TCP_KEEPALIVE/TCP_KEEPINTVL up to UINT32_MAX / 1000 s and
    // stores milliseconds, but its timers compare 32-bit millisecond stamps as
    // signed differences: INT32_MAX ms is the longest that behaves. The same
    // holds for TCP_RXT_CONNDROPTIME, which only rejects negative values.
    // TCP_KEEPCNT: 0..INT32_MAX, 0 meaning the system default.
    // The user timeout starts at the library's 1 s minimum (see
    // KeepAliveOptions::setUserTimeout()). TCP_RXT_CONNDROPTIME is checked in
    // tcp_timer.c's retransmit timer only, not the persist timer: a peer that
    // dies behind a zero window is not ended by it.
    const milliseconds longest = duration_cast<std::chrono::seconds>(milliseconds(INT_MAX));
    const DurationLimit wholeSeconds{1ms, longest, 1s};
    const DurationLimit userTimeout{1s, longest, 1s};
    return Limits{wholeSeconds, wholeSeconds, userTimeout, 1, INT_MAX, 0, false};
#else
    // FreeBSD takes seconds and multiplies by hz (EINVAL above UINT_MAX / hz);
    // the callouts take an int tick count, so INT_MAX / hz is the longest that
    // behaves; the same for TCP_MAXUNACKTIME (tcp_usrreq.c handles it with
    // the keepalive times), checked by the retransmit and the persist timer.
    // TCP_KEEPCNT is an unchecked u_int, 0 meaning the system default.
    // Without TCP_MAXUNACKTIME (13.x) the user timeout is only held to the
    // library's 1 s minimum (see KeepAliveOptions::setUserTimeout()), and
    // apply() reports an explicit one.
    const int hz = ticksPerSecond();
    const DurationLimit wholeSeconds{1ms, std::chrono::seconds(INT_MAX / hz), 1s};
    const DurationLimit userTimeout = hasMaxUnackTime()
            ? DurationLimit{1s, std::chrono::seconds(INT_MAX / hz), 1s}
            : DurationLimit{1s, milliseconds::max(), 1ms};
    return Limits{wholeSeconds, wholeSeconds, userTimeout, 1, INT_MAX, 0, true};
#endif
}

bool hasPendingError(NativeHandle handle)
{
    // Unlike Linux, neither xnu nor FreeBSD reports a socket error as POLLERR:
    // a dead connection shows as POLLHUP, and so does an orderly close on
    // macOS. poll() stays the one cheap call on a healthy socket; only after
    // POLLHUP does kqueue tell an error from a FIN. SO_ERROR would consume
    // the error that Qt's own read must still see.
    if (!(Posix::pollNow(handle) & POLLHUP))
        return false;
    return eofCarriesError(int(handle));
}

Health health(NativeHandle handle)
{
    Health health;
    if (handle < 0)
        return health;
#if defined(__APPLE__)
    // TCP_CONNECTION_INFO (macOS 10.11+) is the public subset of xnu's TCP_INFO:
    // RTTs and RTO in milliseconds, no probe, backoff, unacked or per-direction
    // timestamps. Those stay empty; tcpi_snd_sbbytes counts in-flight data too,
    // so it is no "not sent" figure either.
    tcp_connection_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(int(handle), IPPROTO_TCP, TCP_CONNECTION_INFO, &info, &length) != 0)
        return health;
    health.state = tcpStateAt(BsdStates, info.tcpi_state);
    health.rtt = milliseconds(info.tcpi_srtt);
    health.rttVariance = milliseconds(info.tcpi_rttvar);
    health.retransmissionTimeout = milliseconds(info.tcpi_rto); // ms on xnu
    // Appended in a later release; an older kernel returns a shorter struct.
    if (length >= offsetof(tcp_connection_info, tcpi_txretransmitpackets)
                + sizeof info.tcpi_txretransmitpackets)
        health.totalRetransmits =
                std::uint32_t(std::min<std::uint64_t>(info.tcpi_txretransmitpackets, UINT32_MAX));
#else
    // FreeBSD fills only the fields without a "__" prefix. tcpi_last_data_recv
    // is left out: it is the time since any segment (not data) arrived, in
    // microseconds that wrap after 71 minutes.
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(int(handle), IPPROTO_TCP, TCP_INFO, &info, &length) != 0)
        return health;
    health.state = tcpStateAt(BsdStates, info.tcpi_state);
    health.rtt = microseconds(info.tcpi_rtt);
    health.rttVariance = microseconds(info.tcpi_rttvar);
    health.retransmissionTimeout = microseconds(info.tcpi_rto); // µs on FreeBSD
    health.totalRetransmits = info.tcpi_snd_rexmitpack;
#endif
    return health;
}

} // namespace KeepAliveCore
