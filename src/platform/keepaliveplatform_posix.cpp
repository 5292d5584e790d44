// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// What the POSIX systems share: the keepalive option table, int socket
// options and errno. Linux, macOS and FreeBSD set the keepalive timing per
// socket; the others (keepaliveplatform_other.cpp) SO_KEEPALIVE only.
#include "keepaliveplatform_posix_p.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace KeepAliveCore {

namespace {

// The one table for the POSIX families: only some names differ. Durations
// are seconds except Linux's TCP_USER_TIMEOUT (ms).
const OptionTable &optionTable()
{
    static const OptionTable table = [] {
        OptionTable options;
        options.enabled = {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, Unit::Boolean};
        options.socketError = {"SO_ERROR", SOL_SOCKET, SO_ERROR};
#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
#  if defined(__APPLE__)
        // xnu's name for TCP_KEEPIDLE.
        options.idle = {"TCP_KEEPALIVE", IPPROTO_TCP, TCP_KEEPALIVE, Unit::Seconds};
#  else
        options.idle = {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, Unit::Seconds};
#  endif
        options.interval = {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, Unit::Seconds};
        options.probeCount = {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, Unit::Count};
#endif
#if defined(__linux__)
        options.userTimeout = {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT,
                               Unit::Milliseconds};
#elif defined(__APPLE__)
        // Counts from the first retransmission of unacknowledged data; 0 = off.
        options.userTimeout = {"TCP_RXT_CONNDROPTIME", IPPROTO_TCP, TCP_RXT_CONNDROPTIME,
                               Unit::Seconds};
#elif defined(__FreeBSD__)
        // FreeBSD 14.0+: the longest time without progress (seconds, 0 =
        // off), checked by the retransmit and the persist timer. Built
        // against older headers, or running on an older kernel: none.
        options.whyNoUserTimeout = "this FreeBSD has no per-socket retransmission bound "
                                   "(TCP_MAXUNACKTIME arrived in FreeBSD 14.0)";
#  if defined(TCP_MAXUNACKTIME)
        if (Posix::hasMaxUnackTime())
            options.userTimeout = {"TCP_MAXUNACKTIME", IPPROTO_TCP, TCP_MAXUNACKTIME, Unit::Seconds};
#  endif
#else
        options.whyNoUserTimeout = "the library sets no per-socket retransmission bound on "
                                   "this platform (only SO_KEEPALIVE, see supportedFields())";
#endif
        return options;
    }();
    return table;
}

// strerror_r() is the XSI one (int) on macOS and FreeBSD, the GNU one
// (char *) with glibc's _GNU_SOURCE, which g++ defines.
[[maybe_unused]] const char *strerrorText(int result, const char *buffer)
{
    return result == 0 ? buffer : nullptr;
}

[[maybe_unused]] const char *strerrorText(const char *result, const char *)
{
    return result;
}

} // namespace

const Profile &profile()
{
    static const Profile running{Posix::limits(), optionTable()};
    return running;
}

namespace Native {

int setOption(NativeHandle handle, int level, int option, std::int64_t value)
{
    const int native = int(value);
    return ::setsockopt(int(handle), level, option, &native, sizeof native) == 0 ? 0 : errno;
}

bool getOption(NativeHandle handle, int level, int option, std::int64_t *value)
{
    int native = 0;
    socklen_t length = sizeof native;
    if (::getsockopt(int(handle), level, option, &native, &length) != 0)
        return false;
    *value = native;
    return true;
}

int setKeepAliveValues(NativeHandle, std::int64_t, std::int64_t)
{
    return EOPNOTSUPP; // Windows only; no POSIX option table plans it
}

} // namespace Native

namespace Posix {

short pollNow(NativeHandle handle)
{
    pollfd entry{int(handle), POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&entry, 1, 0);
    } while (ready < 0 && errno == EINTR);
    return ready > 0 ? entry.revents : 0;
}

} // namespace Posix

Readiness awaitReadiness(NativeHandle handle, bool read, bool write,
                         std::chrono::milliseconds timeout)
{
    pollfd entry{int(handle), short((read ? POLLIN : 0) | (write ? POLLOUT : 0)), 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int ready;
    do {
        int wait = -1;
        if (timeout.count() >= 0) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
            wait = int(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, INT_MAX));
        }
        ready = ::poll(&entry, 1, wait);
    } while (ready < 0 && errno == EINTR);
    Readiness result;
    if (ready <= 0 || (entry.revents & POLLNVAL))
        return result;
    result.readable = entry.revents & (POLLIN | POLLHUP | POLLERR);
    result.writable = entry.revents & POLLOUT;
    return result;
}

DescriptorKind classifyDescriptor(NativeHandle handle)
{
    const int fd = int(handle);
    int type = 0;
    socklen_t length = sizeof type;
    if (handle < 0 || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0)
        return handle >= 0 && errno == ENOTSOCK ? DescriptorKind::NotASocket
                                                : DescriptorKind::Invalid;
    sockaddr_storage address{};
    length = sizeof address;
    const bool connected = ::getpeername(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0;
    if (!connected) {
        length = sizeof address;
        if (::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) != 0)
            address.ss_family = AF_UNSPEC;
    }
    if (address.ss_family == AF_UNIX)
        return DescriptorKind::Local;
    if (address.ss_family != AF_INET && address.ss_family != AF_INET6)
        return DescriptorKind::Other;
    if (type == SOCK_DGRAM)
        return DescriptorKind::Udp;
    if (type != SOCK_STREAM)
        return DescriptorKind::Other;
    if (connected)
        return DescriptorKind::TcpConnection;
    std::int64_t listening = 0;
    if (Native::getOption(handle, SOL_SOCKET, SO_ACCEPTCONN, &listening) && listening != 0)
        return DescriptorKind::Listening;
    // Linux, BSD: getpeername() fails with ENOTCONN once a RST or a timeout
    // has ended the connection; the pending error tells it from a socket
    // that never connected.
    return (Posix::pollNow(handle) & POLLERR) ? DescriptorKind::TcpConnection
                                              : DescriptorKind::Unconnected;
}

OsError osErrorFromCode(int code)
{
    switch (code) {
    case 0:
        return OsError::None;
    case ETIMEDOUT:
        return OsError::TimedOut;
    case ECONNRESET:
        return OsError::Reset;
    case EPIPE: // Linux: a RST received in CLOSE_WAIT, i.e. after the peer's FIN
        return OsError::PeerClosed;
    case EHOSTUNREACH:
#if defined(EHOSTDOWN)
    case EHOSTDOWN: // ICMP host unknown
#endif
#if defined(ENONET)
    case ENONET: // Linux: ICMP host isolated
#endif
        return OsError::HostUnreachable;
    case ENETUNREACH:
    case ENETDOWN:
        return OsError::NetworkUnreachable;
    default:
        return OsError::Other;
    }
}

std::string errorText(int code)
{
    char buffer[256] = {};
    const char *text = strerrorText(::strerror_r(code, buffer, sizeof buffer), buffer);
    return text ? std::string(text) : "Unknown error " + std::to_string(code);
}

OsError lastError()
{
    return osErrorFromCode(errno);
}

namespace {

// Network byte order, whatever the host's: no <arpa/inet.h> needed.
std::uint16_t portOf(const void *networkOrder)
{
    const auto *bytes = static_cast<const std::uint8_t *>(networkOrder);
    return std::uint16_t(bytes[0] << 8 | bytes[1]);
}

std::optional<Endpoint> endpointOf(const sockaddr_storage &address)
{
    Endpoint endpoint;
    if (address.ss_family == AF_INET) {
        const auto &in4 = reinterpret_cast<const sockaddr_in &>(address);
        endpoint.ipVersion = 4;
        std::memcpy(endpoint.address, &in4.sin_addr, 4);
        endpoint.port = portOf(&in4.sin_port);
        return endpoint;
    }
    if (address.ss_family != AF_INET6)
        return std::nullopt;
    const auto &in6 = reinterpret_cast<const sockaddr_in6 &>(address);
    const auto *bytes = reinterpret_cast<const std::uint8_t *>(&in6.sin6_addr);
    static const std::uint8_t v4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    endpoint.port = portOf(&in6.sin6_port);
    if (std::memcmp(bytes, v4MappedPrefix, sizeof v4MappedPrefix) == 0) {
        endpoint.ipVersion = 4;
        std::memcpy(endpoint.address, bytes + 12, 4);
    } else {
        endpoint.ipVersion = 6;
        std::memcpy(endpoint.address, bytes, 16);
    }
    return endpoint;
}

} // namespace

std::optional<Endpoints> endpoints(NativeHandle handle)
{
    if (classifyDescriptor(handle) != DescriptorKind::TcpConnection)
        return std::nullopt;
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(int(handle), reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return std::nullopt;
    const std::optional<Endpoint> local = endpointOf(address);
    if (!local)
        return std::nullopt;
    Endpoints ends{*local, std::nullopt};
    length = sizeof address;
    if (::getpeername(int(handle), reinterpret_cast<sockaddr *>(&address), &length) == 0)
        ends.peer = endpointOf(address);
    return ends;
}

NativeHandle retain(NativeHandle handle)
{
    if (handle < 0)
        return -1;
    return ::fcntl(int(handle), F_DUPFD_CLOEXEC, 0);
}

void release(NativeHandle retained)
{
    if (retained >= 0)
        ::close(int(retained));
}

} // namespace KeepAliveCore
