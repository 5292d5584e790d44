// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// Windows: SO_KEEPALIVE; TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT where the
// running Windows has them (10 1709+), SIO_KEEPALIVE_VALS otherwise; TCP_MAXRT;
// SIO_TCP_INFO.

// winsock2.h has to come before anything that may pull in windows.h.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mstcpip.h>

#include "keepaliveplatformcore_p.h"

#include <cstddef>
#include <cstdio>

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

namespace KeepAliveCore {

namespace {

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

// Indexed by TCPSTATE of mstcpip.h.
constexpr TcpState WindowsStates[] = {
        TcpState::Closed,      TcpState::Listen,   TcpState::SynSent,  TcpState::SynReceived,
        TcpState::Established, TcpState::FinWait1, TcpState::FinWait2, TcpState::CloseWait,
        TcpState::Closing,     TcpState::LastAck,  TcpState::TimeWait,
};

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

// Windows 10 1709 (build 16299) or later. RtlGetVersion(), as
// QOperatingSystemVersion uses: GetVersionEx() reports 6.2 to applications
// without a compatibility manifest.
bool atLeast1709()
{
    using GetVersion = LONG(WINAPI *)(RTL_OSVERSIONINFOW *);
    const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    if (!ntdll)
        return false;
    // Through void (*)(), the one cast -Wcast-function-type accepts.
    const auto getVersion = reinterpret_cast<GetVersion>(
            reinterpret_cast<void (*)()>(::GetProcAddress(ntdll, "RtlGetVersion")));
    RTL_OSVERSIONINFOW info{};
    info.dwOSVersionInfoSize = sizeof info;
    if (!getVersion || getVersion(&info) != 0)
        return false;
    return info.dwMajorVersion > 10 || (info.dwMajorVersion == 10 && info.dwBuildNumber >= 16299);
}

Support probe()
{
    Support support;
    // profile() may run before Qt has started Winsock (validation needs no
    // socket); WSAStartup() is reference counted.
    WSADATA data;
    const bool started = ::WSAStartup(MAKEWORD(2, 2), &data) == 0;
    SOCKET fresh = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fresh == INVALID_SOCKET)
        fresh = ::socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
    if (fresh != INVALID_SOCKET) {
        // Probe TCP_KEEPINTVL, not TCP_KEEPIDLE: that is TCP_KEEPALIVE (3),
        // which Windows before 1709 also accepts, but in milliseconds.
        // TCP_KEEPCNT (1703+) is required too.
        const NativeHandle handle = NativeHandle(fresh);
        support.perSocketOptions = Native::setOption(handle, IPPROTO_TCP, TCP_KEEPINTVL, 1) == 0
                && Native::setOption(handle, IPPROTO_TCP, TCP_KEEPCNT, 1) == 0;
        // Windows documents no "default" TCP_MAXRT (-1 means retransmit
        // forever), so "off" writes back what a socket holds before any change.
        std::int64_t maxRt = 0;
        if (Native::getOption(handle, IPPROTO_TCP, TCP_MAXRT, &maxRt)) {
            support.maxRtReadable = true;
            support.defaultMaxRt = DWORD(maxRt);
        }
        ::closesocket(fresh);
    } else {
        // No socket to probe with: go by the build number.
        support.perSocketOptions = atLeast1709();
    }
    if (started)
        ::WSACleanup();
    return support;
}

Profile windowsProfile()
{
    const Support support = probe();
    Profile profile;
    OptionTable &options = profile.options;
    options.enabled = {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, Unit::Boolean};
    options.socketError = {"SO_ERROR", SOL_SOCKET, SO_ERROR};
    options.userTimeout = {"TCP_MAXRT", IPPROTO_TCP, TCP_MAXRT, Unit::Seconds,
                           support.maxRtReadable};
    if (support.maxRtReadable)
        options.userTimeoutOff = support.defaultMaxRt;
    else
        options.userTimeoutOff.reset();
    options.whyNoUserTimeoutOff =
            "the default is unknown (a new socket's TCP_MAXRT was unreadable)";
    // The fresh-socket value is the system's own policy; 0xFFFFFFFF (-1)
    // retransmits forever. Neither is a bound this library set.
    options.userTimeoutForever = MAXDWORD;

    // TCP_MAXRT takes seconds anyway; 1 s is also the library's minimum (see
    // KeepAliveOptions::setUserTimeout()).
    const DurationLimit userTimeout{1s, LongestSeconds, 1s};
    if (support.perSocketOptions) {
        options.idle = {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, Unit::Seconds};
        options.interval = {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, Unit::Seconds};
        options.probeCount = {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, Unit::Count};
        const DurationLimit wholeSeconds{1ms, LongestSeconds, 1s};
        profile.limits = Limits{wholeSeconds, wholeSeconds, userTimeout, 1, MaximumProbeCount, 0};
    } else {
        // Values set with SIO_KEEPALIVE_VALS cannot be read back: unknown then.
        options.keepAliveValues = true;
        // The count is accepted (and ignored) so that options valid on newer
        // Windows stay valid; detectionBound() uses the fixed 10.
        const DurationLimit sioTime{1ms, LongestMs, 1ms};
        profile.limits =
                Limits{sioTime, sioTime, userTimeout, 1, MaximumProbeCount, SioFixedProbeCount};
    }
    return profile;
}

} // namespace

const Profile &profile()
{
    static const Profile running = windowsProfile();
    return running;
}

namespace Native {

int setOption(NativeHandle handle, int level, int option, std::int64_t value)
{
    const DWORD native = DWORD(value);
    if (::setsockopt(SOCKET(handle), level, option, reinterpret_cast<const char *>(&native),
                     sizeof native)
        == 0)
        return 0;
    return ::WSAGetLastError();
}

bool getOption(NativeHandle handle, int level, int option, std::int64_t *value)
{
    DWORD native = 0; // some BOOL options write fewer bytes
    int length = sizeof native;
    if (::getsockopt(SOCKET(handle), level, option, reinterpret_cast<char *>(&native), &length) != 0)
        return false;
    *value = native;
    return true;
}

int setKeepAliveValues(NativeHandle handle, std::int64_t idle, std::int64_t interval)
{
    tcp_keepalive values{};
    values.onoff = 1;
    values.keepalivetime = ULONG(idle);
    values.keepaliveinterval = ULONG(interval);
    DWORD returned = 0;
    if (::WSAIoctl(SOCKET(handle), SIO_KEEPALIVE_VALS, &values, sizeof values, nullptr, 0,
                   &returned, nullptr, nullptr)
        == 0)
        return 0;
    return ::WSAGetLastError();
}

} // namespace Native

bool hasPendingError(NativeHandle handle)
{
    // WSAPoll() does not clear the error. A failed connection shows POLLERR,
    // or POLLHUP, which an orderly close gives as well: only then a one-byte
    // MSG_PEEK tells them apart. Winsock keeps reporting a reset or aborted
    // connection on every call, so the peek leaves the error for Qt's read.
    WSAPOLLFD entry{};
    entry.fd = SOCKET(handle);
    entry.events = POLLRDNORM; // WSAPoll() rejects POLLPRI
    if (::WSAPoll(&entry, 1, 0) <= 0)
        return false;
    if (entry.revents & POLLERR)
        return true;
    if (!(entry.revents & POLLHUP))
        return false;
    char byte;
    return ::recv(SOCKET(handle), &byte, 1, MSG_PEEK) == SOCKET_ERROR
            && ::WSAGetLastError() != WSAEWOULDBLOCK;
}

OsError osErrorFromCode(int code)
{
    switch (code) {
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

std::string errorText(int code)
{
    // The system's message, as qt_error_string() gives it, and the number.
    wchar_t *buffer = nullptr;
    const DWORD length =
            ::FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM
                                     | FORMAT_MESSAGE_IGNORE_INSERTS,
                             nullptr, DWORD(code), MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT),
                             reinterpret_cast<LPWSTR>(&buffer), 0, nullptr);
    std::string text;
    if (length > 0) {
        const int size = ::WideCharToMultiByte(CP_UTF8, 0, buffer, int(length), nullptr, 0, nullptr,
                                               nullptr);
        if (size > 0) {
            text.resize(std::size_t(size));
            ::WideCharToMultiByte(CP_UTF8, 0, buffer, int(length), &text[0], size, nullptr, nullptr);
        }
    }
    ::LocalFree(buffer);
    const char *space = " \t\r\n";
    text.erase(text.find_last_not_of(space) + 1);
    text.erase(0, text.find_first_not_of(space));
    if (text.empty()) {
        char unknown[32];
        std::snprintf(unknown, sizeof unknown, "Unknown error 0x%08x.", unsigned(code));
        text = unknown;
    }
    return text + " (WSA error " + std::to_string(code) + ")";
}

void clearLastError()
{
    ::WSASetLastError(0);
}

OsError lastError()
{
    return osErrorFromCode(::WSAGetLastError());
}

bool lastErrorSurvivesQtRead()
{
    // TlsGetValue() on Qt's way from the failed recv() to errorOccurred() clears it.
    return false;
}

Health health(NativeHandle handle)
{
    // SIO_TCP_INFO (Windows 10 1703+) reports state and smoothed RTT; its
    // other counters are bytes or episodes, not the segments and probes that
    // ConnectionHealth holds, so those stay empty. Older Windows: invalid.
    Health health;
    if (handle < 0)
        return health;
    DWORD version = 0;
    TcpInfoV0 info{};
    DWORD returned = 0;
    if (::WSAIoctl(SOCKET(handle), SIO_TCP_INFO, &version, sizeof version, &info, sizeof info,
                   &returned, nullptr, nullptr)
                != 0
        || returned < offsetof(TcpInfoV0, RttUs) + sizeof info.RttUs)
        return health;
    health.state = tcpStateAt(WindowsStates, info.State);
    health.rtt = microseconds(info.RttUs);
    return health;
}

} // namespace KeepAliveCore
