// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// Windows: SO_KEEPALIVE; TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT where the
// running Windows has them (10 1709+), SIO_KEEPALIVE_VALS otherwise; TCP_MAXRT;
// SIO_TCP_INFO.

// winsock2.h has to come before anything that may pull in windows.h.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mstcpip.h>

#include "keepaliveplatform_p.h"

#include <QtCore/QOperatingSystemVersion>
#include <QtCore/QStringList>

#include <algorithm>
#include <climits>
#include <cstddef>

// ws2ipdef.h values; Windows SDKs before 10.0.16299 and MinGW-w64 before v11 lack them.
#ifndef TCP_KEEPIDLE
#  define TCP_KEEPIDLE 3 // the same option number as TCP_KEEPALIVE
#endif
#ifndef TCP_MAXRT
#  define TCP_MAXRT 5
#endif
#ifndef TCP_KEEPCNT
#  define TCP_KEEPCNT 16
#endif
#ifndef TCP_KEEPINTVL
#  define TCP_KEEPINTVL 17
#endif
#ifndef SIO_TCP_INFO
#  define SIO_TCP_INFO _WSAIORW(IOC_VENDOR, 39)
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAlivePlatform {

namespace {

using Field = KeepAliveOptions::Field;

// The layout of TCP_INFO_v0 (mstcpip.h), which SDK headers declare only for
// NTDDI_VERSION >= NTDDI_WIN10_RS2.
struct TcpInfoV0
{
    int State; // TCPSTATE
    ULONG Mss;
    ULONG64 ConnectionTimeMs;
    BOOLEAN TimestampsEnabled;
    ULONG RttUs;
    ULONG MinRttUs;
    ULONG BytesInFlight;
    ULONG Cwnd;
    ULONG SndWnd;
    ULONG RcvWnd;
    ULONG RcvBuf;
    ULONG64 BytesOut;
    ULONG64 BytesIn;
    ULONG BytesReordered;
    ULONG BytesRetrans;
    ULONG FastRetrans;
    ULONG DupAcksIn;
    ULONG TimeoutEpisodes;
    UCHAR SynRetrans;
};
#if defined(NTDDI_WIN10_RS2) && NTDDI_VERSION >= NTDDI_WIN10_RS2
static_assert(sizeof(TcpInfoV0) == sizeof(TCP_INFO_v0), "TCP_INFO_v0 layout changed");
#endif

// The stack keeps keepalive times as 32-bit milliseconds: SIO_KEEPALIVE_VALS
// takes ULONG ms, and the Tcpip KeepAliveTime/KeepAliveInterval registry
// values are documented as 1..0xFFFFFFFF ms. Per-socket options take whole
// seconds of that. TCP_MAXRT documents no upper bound; the same is assumed.
constexpr milliseconds LongestMs = milliseconds(0xFFFFFFFFLL);
constexpr milliseconds LongestSeconds = duration_cast<std::chrono::seconds>(LongestMs);
// "It is illegal to set TCP_KEEPCNT to a value greater than 255" (IPPROTO_TCP socket options).
constexpr int MaximumProbeCount = 255;
// SIO_KEEPALIVE_VALS cannot set the count: Vista and later send 10 probes.
constexpr int SioFixedProbeCount = 10;

struct Support
{
    bool perSocketOptions = false; //!< TCP_KEEPIDLE/TCP_KEEPINTVL in seconds, TCP_KEEPCNT
    bool maxRtReadable = false;
    DWORD defaultMaxRt = 0; //!< TCP_MAXRT of a fresh socket
};

Support probe()
{
    Support support;
    // limits() may run before Qt has started Winsock (validation needs no
    // socket); WSAStartup() is reference counted.
    WSADATA data;
    const bool started = ::WSAStartup(MAKEWORD(2, 2), &data) == 0;
    SOCKET fresh = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fresh == INVALID_SOCKET)
        fresh = ::socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
    if (fresh != INVALID_SOCKET) {
        auto accepts = [fresh](int option) {
            const DWORD one = 1;
            return ::setsockopt(fresh, IPPROTO_TCP, option, reinterpret_cast<const char *>(&one),
                                sizeof one)
                    == 0;
        };
        // Probe TCP_KEEPINTVL, not TCP_KEEPIDLE: that is TCP_KEEPALIVE (3),
        // which Windows before 1709 also accepts, but in milliseconds.
        // TCP_KEEPCNT (1703+) is required too.
        support.perSocketOptions = accepts(TCP_KEEPINTVL) && accepts(TCP_KEEPCNT);
        // Windows documents no "default" TCP_MAXRT (-1 means retransmit
        // forever), so "off" writes back what a socket holds before any change.
        DWORD maxRt = 0;
        int length = sizeof maxRt;
        if (::getsockopt(fresh, IPPROTO_TCP, TCP_MAXRT, reinterpret_cast<char *>(&maxRt), &length)
            == 0) {
            support.maxRtReadable = true;
            support.defaultMaxRt = maxRt;
        }
        ::closesocket(fresh);
    } else {
        // No socket to probe with: go by the build number (16299 = 1709).
        support.perSocketOptions = QOperatingSystemVersion::current()
                >= QOperatingSystemVersion(QOperatingSystemVersion::Windows, 10, 0, 16299);
    }
    if (started)
        ::WSACleanup();
    return support;
}

const Support &support()
{
    static const Support probed = probe();
    return probed;
}

bool setDword(qintptr descriptor, int level, int option, DWORD value)
{
    return ::setsockopt(SOCKET(descriptor), level, option, reinterpret_cast<const char *>(&value),
                        sizeof value)
            == 0;
}

bool getDword(qintptr descriptor, int level, int option, DWORD *value)
{
    *value = 0; // some BOOL options write fewer bytes
    int length = sizeof *value;
    return ::getsockopt(SOCKET(descriptor), level, option, reinterpret_cast<char *>(value), &length)
            == 0;
}

DWORD seconds(milliseconds value, const DurationLimit &limit)
{
    return DWORD(duration_cast<std::chrono::seconds>(roundUp(value, limit)).count());
}

DWORD wholeMilliseconds(milliseconds value, const DurationLimit &limit)
{
    return DWORD(roundUp(value, limit).count());
}

QString errorText(int error)
{
    return QStringLiteral("%1 (WSA error %2)").arg(qt_error_string(error).trimmed()).arg(error);
}

// TCP_MAXRT for a retransmission bound of timeout (0 = off), or false when
// off cannot be expressed because a fresh socket's value is unknown.
bool maxRtFor(milliseconds timeout, DWORD *value)
{
    if (timeout > 0ms) {
        *value = seconds(timeout, limits().userTimeout);
        return true;
    }
    *value = support().defaultMaxRt;
    return support().maxRtReadable;
}

ConnectionHealth::TcpState tcpState(int state)
{
    using S = ConnectionHealth::TcpState;
    // TCPSTATE of mstcpip.h.
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
        return S::FinWait1;
    case 6:
        return S::FinWait2;
    case 7:
        return S::CloseWait;
    case 8:
        return S::Closing;
    case 9:
        return S::LastAck;
    case 10:
        return S::TimeWait;
    default:
        return S::Unknown;
    }
}

} // namespace

const Limits &limits()
{
    static const Limits windowsLimits = [] {
        const DurationLimit wholeSeconds{1ms, LongestSeconds, 1s};
        // TCP_MAXRT takes seconds anyway; 1 s is also the library's minimum
        // (see KeepAliveOptions::setUserTimeout()).
        const DurationLimit userTimeout{1s, LongestSeconds, 1s};
        if (support().perSocketOptions)
            return Limits{wholeSeconds, wholeSeconds, userTimeout, 1, MaximumProbeCount, 0};
        // The count is accepted (and ignored) so that options valid on newer
        // Windows stay valid; detectionBound() uses the fixed 10.
        const DurationLimit sioTime{1ms, LongestMs, 1ms};
        return Limits{sioTime, sioTime, userTimeout, 1, MaximumProbeCount, SioFixedProbeCount};
    }();
    return windowsLimits;
}

KeepAliveOptions::Fields supportedFields()
{
    KeepAliveOptions::Fields fields = KeepAliveOptions::Fields(Field::Enabled) | Field::Idle
            | Field::Interval | Field::UserTimeout;
    if (support().perSocketOptions)
        fields |= Field::ProbeCount;
    return fields;
}

KeepAliveOptions::Fields readableFields()
{
    // SIO_KEEPALIVE_VALS is write-only: idle and interval cannot be read then.
    KeepAliveOptions::Fields fields = KeepAliveOptions::Fields(Field::Enabled);
    if (support().perSocketOptions)
        fields |= KeepAliveOptions::Fields(Field::Idle) | Field::Interval | Field::ProbeCount;
    if (support().maxRtReadable)
        fields |= Field::UserTimeout;
    return fields;
}

ApplyResult apply(qintptr descriptor, const KeepAliveOptions &options)
{
    ApplyResult result;
    QStringList messages;
    auto refuse = [&](KeepAliveOptions::Fields fields, const QString &what, const QString &why) {
        result.refused |= fields;
        messages << QStringLiteral("%1 refused: %2").arg(what, why);
    };
    auto attempt = [&](Field field, const char *name, int level, int option, DWORD value) {
        if (!setDword(descriptor, level, option, value)) {
            const int error = ::WSAGetLastError();
            refuse(field, QStringLiteral("%1 = %2").arg(QLatin1String(name)).arg(value),
                   errorText(error));
        }
    };
    const Limits &l = limits();
    attempt(Field::Enabled, "SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, options.isEnabled() ? 1 : 0);
    if (support().perSocketOptions) {
        // Set even when keepalive is off, so that turning it on later (e.g.
        // through QAbstractSocket::KeepAliveOption) uses them.
        attempt(Field::Idle, "TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE,
                seconds(options.idle(), l.idle));
        attempt(Field::Interval, "TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL,
                seconds(options.interval(), l.interval));
        attempt(Field::ProbeCount, "TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT,
                DWORD(options.probeCount()));
    } else if (options.isEnabled()) {
        // One call sets both values (neither alone) and switches keepalive on,
        // so it is skipped while keepalive is off.
        tcp_keepalive values{};
        values.onoff = 1;
        values.keepalivetime = wholeMilliseconds(options.idle(), l.idle);
        values.keepaliveinterval = wholeMilliseconds(options.interval(), l.interval);
        DWORD returned = 0;
        if (::WSAIoctl(SOCKET(descriptor), SIO_KEEPALIVE_VALS, &values, sizeof values, nullptr, 0,
                       &returned, nullptr, nullptr)
            != 0) {
            const int error = ::WSAGetLastError();
            refuse(KeepAliveOptions::Fields(Field::Idle) | Field::Interval,
                   QStringLiteral("SIO_KEEPALIVE_VALS = {on, %1 ms, %2 ms}")
                           .arg(values.keepalivetime)
                           .arg(values.keepaliveinterval),
                   errorText(error));
        }
    }
    DWORD maxRt = 0;
    if (maxRtFor(options.userTimeout(), &maxRt))
        attempt(Field::UserTimeout, "TCP_MAXRT", IPPROTO_TCP, TCP_MAXRT, maxRt);
    else
        refuse(Field::UserTimeout, QStringLiteral("TCP_MAXRT = system default"),
               QStringLiteral("the default is unknown (a new socket's TCP_MAXRT was unreadable)"));
    result.message = messages.join(QLatin1String("; "));
    return result;
}

EffectiveKeepAliveOptions readBack(qintptr descriptor)
{
    EffectiveKeepAliveOptions options;
    DWORD value = 0;
    if (getDword(descriptor, SOL_SOCKET, SO_KEEPALIVE, &value)) {
        options.enabled = value != 0;
    }
    // Values set with SIO_KEEPALIVE_VALS cannot be read back: unknown then.
    if (support().perSocketOptions) {
        if (getDword(descriptor, IPPROTO_TCP, TCP_KEEPIDLE, &value)) {
            options.idle = std::chrono::seconds(value);
        }
        if (getDword(descriptor, IPPROTO_TCP, TCP_KEEPINTVL, &value)) {
            options.interval = std::chrono::seconds(value);
        }
        if (getDword(descriptor, IPPROTO_TCP, TCP_KEEPCNT, &value)) {
            options.probeCount = int(std::min<DWORD>(value, INT_MAX));
        }
    }
    if (getDword(descriptor, IPPROTO_TCP, TCP_MAXRT, &value)) {
        // The fresh-socket value is the system's own policy; 0xFFFFFFFF (-1)
        // retransmits forever. Neither is a bound this library set.
        const bool off =
                (support().maxRtReadable && value == support().defaultMaxRt) || value == MAXDWORD;
        options.userTimeout = off ? milliseconds(0) : milliseconds(std::chrono::seconds(value));
    }
    return options;
}

bool setUserTimeout(qintptr descriptor, milliseconds timeout)
{
    DWORD maxRt = 0;
    return maxRtFor(timeout, &maxRt) && setDword(descriptor, IPPROTO_TCP, TCP_MAXRT, maxRt);
}

bool hasPendingError(qintptr descriptor)
{
    // WSAPoll() does not clear the error. A failed connection shows POLLERR,
    // or POLLHUP, which an orderly close gives as well: only then a one-byte
    // MSG_PEEK tells them apart. Winsock keeps reporting a reset or aborted
    // connection on every call, so the peek leaves the error for Qt's read.
    WSAPOLLFD entry{};
    entry.fd = SOCKET(descriptor);
    entry.events = POLLRDNORM; // WSAPoll() rejects POLLPRI
    if (::WSAPoll(&entry, 1, 0) <= 0)
        return false;
    if (entry.revents & POLLERR)
        return true;
    if (!(entry.revents & POLLHUP))
        return false;
    char byte;
    return ::recv(SOCKET(descriptor), &byte, 1, MSG_PEEK) == SOCKET_ERROR
            && ::WSAGetLastError() != WSAEWOULDBLOCK;
}

void clearLastError()
{
    ::WSASetLastError(0);
}

namespace {

OsError fromWsaError(int error)
{
    switch (error) {
    case 0:
        return OsError::None;
    case WSAETIMEDOUT:
    // "Connection has been broken due to keep-alive activity detecting a failure".
    case WSAENETRESET:
    // What a connection gets when TCP_MAXRT or the retransmission limit expires.
    case WSAECONNABORTED:
        return OsError::TimedOut;
    case WSAECONNRESET:
        return OsError::Reset;
    case WSAEHOSTUNREACH:
    case WSAEHOSTDOWN:
        return OsError::HostUnreachable;
    case WSAENETUNREACH:
    case WSAENETDOWN:
        return OsError::NetworkUnreachable;
    default:
        return OsError::Other;
    }
}

} // namespace

OsError lastError()
{
    return fromWsaError(::WSAGetLastError());
}

bool lastErrorSurvivesQtRead()
{
    // TlsGetValue() on Qt's way from the failed recv() to errorOccurred() clears it.
    return false;
}

OsError takePendingError(qintptr descriptor)
{
    int error = 0;
    int length = sizeof error;
    if (::getsockopt(SOCKET(descriptor), SOL_SOCKET, SO_ERROR, reinterpret_cast<char *>(&error),
                     &length)
        != 0)
        return OsError::None;
    return fromWsaError(error);
}

ConnectionHealth health(qintptr descriptor)
{
    // SIO_TCP_INFO (Windows 10 1703+) reports state and smoothed RTT; its
    // other counters are bytes or episodes, not the segments and probes that
    // ConnectionHealth holds, so those stay empty. Older Windows: invalid.
    ConnectionHealth health;
    if (descriptor < 0)
        return health;
    DWORD version = 0;
    TcpInfoV0 info{};
    DWORD returned = 0;
    if (::WSAIoctl(SOCKET(descriptor), SIO_TCP_INFO, &version, sizeof version, &info, sizeof info,
                   &returned, nullptr, nullptr)
                != 0
        || returned < offsetof(TcpInfoV0, RttUs) + sizeof info.RttUs)
        return health;
    health.state = tcpState(info.State);
    health.rtt = microseconds(info.RttUs);
    return health;
}

} // namespace KeepAlivePlatform
