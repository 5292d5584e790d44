// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// Windows: SO_KEEPALIVE; TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT where the
// running Windows has them (10 1709+), SIO_KEEPALIVE_VALS otherwise; TCP_MAXRT
// where accepted; SIO_TCP_INFO. Which of them is probed once at run time;
// windowsProfile() (keepaliveplatformcore_windows.cpp) decides from that.

// The SDKs declare TCP_INFO_v0 and SIO_TCP_INFO only for NTDDI_VERSION >=
// NTDDI_WIN10_RS2, and MinGW-w64 defaults to an older target: this file asks
// for Windows 10 1703 declarations. It only uses what it finds at run time.
#undef _WIN32_WINNT
#undef NTDDI_VERSION
#define _WIN32_WINNT 0x0A00      // _WIN32_WINNT_WIN10
#define NTDDI_VERSION 0x0A000003 // NTDDI_WIN10_RS2

// winsock2.h has to come before anything that may pull in windows.h.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mstcpip.h>

#include "keepaliveplatformcore_p.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

static_assert(KeepAliveCore::WindowsConstants::SolSocket == SOL_SOCKET
                      && KeepAliveCore::WindowsConstants::SoKeepAlive == SO_KEEPALIVE
                      && KeepAliveCore::WindowsConstants::SoError == SO_ERROR
                      && KeepAliveCore::WindowsConstants::IpProtoTcp == IPPROTO_TCP
                      && KeepAliveCore::WindowsConstants::TcpKeepIdle == TCP_KEEPIDLE
                      && KeepAliveCore::WindowsConstants::TcpMaxRt == TCP_MAXRT
                      && KeepAliveCore::WindowsConstants::TcpKeepCnt == TCP_KEEPCNT
                      && KeepAliveCore::WindowsConstants::TcpKeepIntvl == TCP_KEEPINTVL
                      && KeepAliveCore::WindowsConstants::WsaENoProtoOpt == WSAENOPROTOOPT,
              "KeepAliveCore::WindowsConstants differ from the SDK's");
// The fields health() reads, at the offsets of the documented layout (the
// x64 ABI): checked now that this file always sees the declaration.
static_assert(offsetof(TCP_INFO_v0, Mss) == 4 && offsetof(TCP_INFO_v0, RttUs) == 20
                      && offsetof(TCP_INFO_v0, BytesInFlight) == 28
                      && offsetof(TCP_INFO_v0, BytesRetrans) == 68,
              "TCP_INFO_v0 layout (mstcpip.h) changed");

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAliveCore {

namespace {

// Indexed by TCPSTATE of mstcpip.h.
constexpr TcpState WindowsStates[] = {
        TcpState::Closed,      TcpState::Listen,   TcpState::SynSent,  TcpState::SynReceived,
        TcpState::Established, TcpState::FinWait1, TcpState::FinWait2, TcpState::CloseWait,
        TcpState::Closing,     TcpState::LastAck,  TcpState::TimeWait,
};

// The calling thread's pending error, as hasPendingError() found it before
// Qt's read (WSAGetLastError() does not survive that read): lastError().
struct SeenError
{
    int code = 0;
    //! Set by the hasPendingError() call just made: the next clearLastError() keeps it.
    bool fresh = false;
};
thread_local SeenError t_seen;

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

// Under Wine (ntdll exports wine_get_version), sockets are the host
// kernel's: SIO_KEEPALIVE_VALS sets idle and interval there and leaves the
// host's probe count in force, which the host's /proc tells (Wine maps the
// Unix root as drive Z: in every prefix it creates). Empty on Windows, or
// where it cannot be read.
std::optional<int> wineHostProbeCount()
{
    const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    if (!ntdll || !::GetProcAddress(ntdll, "wine_get_version"))
        return std::nullopt;
    const HANDLE file =
            ::CreateFileW(L"Z:\\proc\\sys\\net\\ipv4\\tcp_keepalive_probes", GENERIC_READ,
                          FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (file == INVALID_HANDLE_VALUE)
        return std::nullopt;
    char text[16] = {};
    DWORD length = 0;
    const bool read = ::ReadFile(file, text, sizeof text - 1, &length, nullptr);
    ::CloseHandle(file);
    if (!read || length == 0)
        return std::nullopt;
    const long count = std::strtol(text, nullptr, 10);
    if (count < 1 || count > 255)
        return std::nullopt;
    return int(count);
}

WindowsSupport probe()
{
    WindowsSupport support;
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
        if (Native::getOption(handle, IPPROTO_TCP, TCP_MAXRT, &maxRt))
            support.defaultMaxRt = std::uint32_t(maxRt);
        // Claimed only where setting it works (Wine 8: WSAENOPROTOOPT); the
        // value written is the one the socket already had, or 60 s.
        support.maxRtError = Native::setOption(handle, IPPROTO_TCP, TCP_MAXRT,
                                               support.defaultMaxRt.value_or(60));
        support.maxRtSettable = support.maxRtError == 0;
        ::closesocket(fresh);
    } else {
        // No socket to probe with: go by the build number; TCP_MAXRT not claimed.
        support.perSocketOptions = atLeast1709();
    }
    if (started)
        ::WSACleanup();
    support.hostProbeCount = wineHostProbeCount();
    return support;
}

// The connection's error without consuming what Qt's read needs: SO_ERROR
// first (a timed-out connection holds WSAETIMEDOUT there; Wine keeps it after
// reading, Windows clears it, and Qt's read does not use it), otherwise the
// error a one-byte peek meets. 0: none (data to read, or a FIN).
int pendingErrorCode(SOCKET socket)
{
    std::int64_t error = 0;
    if (Native::getOption(NativeHandle(socket), SOL_SOCKET, SO_ERROR, &error) && error != 0)
        return int(error);
    char byte;
    if (::recv(socket, &byte, 1, MSG_PEEK) != SOCKET_ERROR)
        return 0;
    const int peeked = ::WSAGetLastError();
    return peeked == WSAEWOULDBLOCK ? 0 : peeked;
}

} // namespace

const Profile &profile()
{
    static const Profile running = windowsProfile(probe());
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
    // WSAPoll() does not clear the error. A reset shows POLLERR (with
    // POLLHUP); a keepalive death only POLLHUP, with the error in SO_ERROR
    // and a peek returning 0 (Wine 8, measured); an orderly close POLLHUP or
    // POLLRDNORM alone. Only after POLLERR or POLLHUP does pendingErrorCode()
    // tell an error from a FIN. The code is kept for lastError().
    WSAPOLLFD entry{};
    entry.fd = SOCKET(handle);
    entry.events = POLLRDNORM; // WSAPoll() rejects POLLPRI
    if (::WSAPoll(&entry, 1, 0) <= 0 || !(entry.revents & (POLLERR | POLLHUP)))
        return false;
    int code = pendingErrorCode(SOCKET(handle));
    // POLLERR whose code another reader took: still a failed connection.
    if (code == 0 && (entry.revents & POLLERR))
        code = WSAECONNRESET;
    if (code == 0)
        return false;
    t_seen = SeenError{code, true};
    return true;
}

Readiness awaitReadiness(NativeHandle handle, bool read, bool write,
                         std::chrono::milliseconds timeout)
{
    // WSAPoll() rejects POLLPRI; a keepalive death shows POLLHUP alone (see
    // hasPendingError()).
    WSAPOLLFD entry{};
    entry.fd = SOCKET(handle);
    entry.events = SHORT((read ? POLLRDNORM : 0) | (write ? POLLWRNORM : 0));
    const INT wait = timeout.count() < 0
            ? -1
            : INT(std::min<std::chrono::milliseconds::rep>(timeout.count(), INT_MAX));
    Readiness result;
    if (::WSAPoll(&entry, 1, wait) <= 0 || (entry.revents & POLLNVAL))
        return result;
    result.readable = entry.revents & (POLLRDNORM | POLLHUP | POLLERR);
    result.writable = entry.revents & POLLWRNORM;
    return result;
}

DescriptorKind classifyDescriptor(NativeHandle handle)
{
    if (handle < 0) // INVALID_SOCKET
        return DescriptorKind::Invalid;
    const SOCKET socket = SOCKET(handle);
    // Family and type in one call, also for an unbound socket (where
    // getsockname() fails with WSAEINVAL). WSAENOTSOCK also for a closed handle:
    // Winsock does not tell the two apart.
    WSAPROTOCOL_INFOW info{};
    int length = sizeof info;
    if (::getsockopt(socket, SOL_SOCKET, SO_PROTOCOL_INFOW, reinterpret_cast<char *>(&info), &length)
        != 0)
        return DescriptorKind::NotASocket;
    if (info.iAddressFamily == AF_UNIX)
        return DescriptorKind::Local;
    if (info.iAddressFamily != AF_INET && info.iAddressFamily != AF_INET6)
        return DescriptorKind::Other;
    if (info.iSocketType == SOCK_DGRAM)
        return DescriptorKind::Udp;
    if (info.iSocketType != SOCK_STREAM)
        return DescriptorKind::Other;
    sockaddr_storage peer{};
    int peerLength = sizeof peer;
    if (::getpeername(socket, reinterpret_cast<sockaddr *>(&peer), &peerLength) == 0)
        return DescriptorKind::TcpConnection;
    std::int64_t listening = 0;
    if (Native::getOption(handle, SOL_SOCKET, SO_ACCEPTCONN, &listening) && listening != 0)
        return DescriptorKind::Listening;
    // A connection reset before it was adopted: its error is still pending.
    WSAPOLLFD entry{};
    entry.fd = socket;
    entry.events = POLLRDNORM; // WSAPoll() rejects POLLPRI
    return ::WSAPoll(&entry, 1, 0) > 0 && (entry.revents & POLLERR) ? DescriptorKind::TcpConnection
                                                                    : DescriptorKind::Unconnected;
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
    // Right after hasPendingError() found an error, that is the one Qt's
    // coming read meets: kept. At any other time the record is stale.
    if (t_seen.fresh)
        t_seen.fresh = false;
    else
        t_seen = SeenError{};
}

OsError lastError()
{
    // WSAGetLastError() is cleared on Qt's way from the failed recv() to
    // errorOccurred() (TlsGetValue): what hasPendingError() saw instead, once.
    const int code = t_seen.code;
    t_seen = SeenError{};
    return osErrorFromCode(code);
}

Health health(NativeHandle handle)
{
    // SIO_TCP_INFO (Windows 10 1703+): state, smoothed RTT, and bytes where
    // ConnectionHealth counts segments: bytes in flight and retransmitted
    // bytes become segments of at most the MSS (at least that many). No RTO,
    // probes, backoff or timestamps; TimeoutEpisodes (RTO expiries over the
    // connection's life) has no ConnectionHealth field. Older Windows and
    // Wine 8 (WSAEOPNOTSUPP): invalid.
    Health health;
    if (handle < 0)
        return health;
    DWORD version = 0;
    TCP_INFO_v0 info{};
    DWORD returned = 0;
    if (::WSAIoctl(SOCKET(handle), SIO_TCP_INFO, &version, sizeof version, &info, sizeof info,
                   &returned, nullptr, nullptr)
                != 0
        || returned < offsetof(TCP_INFO_v0, BytesRetrans) + sizeof info.BytesRetrans)
        return health;
    health.state = tcpStateAt(WindowsStates, info.State);
    health.rtt = microseconds(info.RttUs);
    const ULONG mss = info.Mss > 0 ? info.Mss : 1;
    health.unackedSegments =
            std::uint32_t(info.BytesInFlight / mss + (info.BytesInFlight % mss != 0));
    health.totalRetransmits =
            std::uint32_t(info.BytesRetrans / mss + (info.BytesRetrans % mss != 0));
    return health;
}

namespace {

bool endpointOf(const sockaddr_storage &address, Endpoint *endpoint)
{
    if (address.ss_family == AF_INET) {
        const auto &in4 = reinterpret_cast<const sockaddr_in &>(address);
        endpoint->ipVersion = 4;
        std::memcpy(endpoint->address, &in4.sin_addr, 4);
        endpoint->port = ntohs(in4.sin_port);
        return true;
    }
    if (address.ss_family != AF_INET6)
        return false;
    const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(address);
    const auto *bytes = reinterpret_cast<const std::uint8_t *>(&in6.sin6_addr);
    static const std::uint8_t v4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    endpoint->port = ntohs(in6.sin6_port);
    if (std::memcmp(bytes, v4MappedPrefix, sizeof v4MappedPrefix) == 0) {
        endpoint->ipVersion = 4;
        std::memcpy(endpoint->address, bytes + 12, 4);
    } else {
        endpoint->ipVersion = 6;
        std::memcpy(endpoint->address, bytes, 16);
    }
    return true;
}

} // namespace

std::optional<Endpoints> endpoints(NativeHandle handle)
{
    if (classifyDescriptor(handle) != DescriptorKind::TcpConnection)
        return std::nullopt;
    sockaddr_storage address{};
    int length = sizeof address;
    Endpoints ends;
    if (::getsockname(SOCKET(handle), reinterpret_cast<sockaddr *>(&address), &length) != 0
        || !endpointOf(address, &ends.local))
        return std::nullopt;
    Endpoint peer;
    length = sizeof address;
    if (::getpeername(SOCKET(handle), reinterpret_cast<sockaddr *>(&address), &length) == 0
        && endpointOf(address, &peer))
        ends.peer = peer;
    return ends;
}

NativeHandle retain(NativeHandle)
{
    // Not on Windows: without a second handle the public-API-only mode
    // classifies a death from Qt's error code alone (see README, "Platform
    // support").
    return -1;
}

void release(NativeHandle) { }

} // namespace KeepAliveCore
