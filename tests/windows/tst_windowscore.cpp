// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The Windows platform core (keepaliveplatform_win.cpp), run under Wine
// against a Linux peer on 127.0.0.1 that the driver (run_windowscore.py)
// controls: each connection sends one command line, and the peer answers
// "ok" before it acts:
//
//   silent  the peer drops every segment from now on (drop-all socket filter)
//   reset   the peer closes with SO_LINGER {1, 0}: a RST
//   fin     the peer closes normally: a FIN
//   hold    the peer keeps the connection open and answers nothing
//
// Plain C++17 and Winsock, no Qt. Usage: tst_windowscore.exe PORT HOSTPROBES
// (HOSTPROBES: the Linux host's net.ipv4.tcp_keepalive_probes, which Wine's
// SIO_KEEPALIVE_VALS leaves in force). Prints one line per check, "PASS" or
// "FAIL" with what was seen, and where the Wine under test lacks something,
// "WINE LACKS" naming exactly what; exits 0 only when nothing failed.

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mstcpip.h>

#include "keepaliveplatformcore_p.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Core = KeepAliveCore;
using Core::Field;
using Core::OsError;

namespace {

int failures = 0;

void check(bool ok, const std::string &what, const std::string &seen = {})
{
    std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", what.c_str(), seen.empty() ? "" : ": ",
                seen.c_str());
    std::fflush(stdout);
    if (!ok)
        ++failures;
}

void lacks(const std::string &what)
{
    std::printf("WINE LACKS %s\n", what.c_str());
    std::fflush(stdout);
}

const char *name(OsError error)
{
    switch (error) {
    case OsError::None:
        return "None";
    case OsError::TimedOut:
        return "TimedOut";
    case OsError::Reset:
        return "Reset";
    case OsError::PeerClosed:
        return "PeerClosed";
    case OsError::HostUnreachable:
        return "HostUnreachable";
    case OsError::NetworkUnreachable:
        return "NetworkUnreachable";
    case OsError::Other:
        return "Other";
    }
    return "?";
}

std::string wineVersion()
{
    using Version = const char *(__cdecl *)();
    const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    const auto version = ntdll ? reinterpret_cast<Version>(reinterpret_cast<void (*)()>(
                                 ::GetProcAddress(ntdll, "wine_get_version")))
                               : nullptr;
    return version ? version() : std::string();
}

// A connection to the peer that has received \a command and answered "ok".
class Connection
{
public:
    Connection(unsigned short port, const char *command)
    {
        m_socket = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        if (m_socket == INVALID_SOCKET)
            return;
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = ::htons(port);
        address.sin_addr.s_addr = ::htonl(INADDR_LOOPBACK);
        if (::connect(m_socket, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
            return;
        const std::string line = std::string(command) + "\n";
        if (::send(m_socket, line.data(), int(line.size()), 0) != int(line.size()))
            return;
        char answer[3] = {};
        int received = 0;
        while (received < 3) { // bounded: at most three bytes, each one recv()
            const int n = ::recv(m_socket, answer + received, 3 - received, 0);
            if (n <= 0)
                return;
            received += n;
        }
        m_ready = std::memcmp(answer, "ok\n", 3) == 0;
    }
    ~Connection()
    {
        if (m_socket != INVALID_SOCKET)
            ::closesocket(m_socket);
    }
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    bool ready() const { return m_ready; }
    Core::NativeHandle handle() const { return Core::NativeHandle(m_socket); }

private:
    SOCKET m_socket = INVALID_SOCKET;
    bool m_ready = false;
};

// Polls hasPendingError() every 20 ms until it is true or \a limit has passed.
bool waitForPendingError(Core::NativeHandle handle, milliseconds limit, milliseconds *elapsed)
{
    const auto start = steady_clock::now();
    for (int round = 0; round < 100000; ++round) {
        if (Core::hasPendingError(handle)) {
            *elapsed = duration_cast<milliseconds>(steady_clock::now() - start);
            return true;
        }
        if (steady_clock::now() - start >= limit)
            break;
        std::this_thread::sleep_for(20ms);
    }
    *elapsed = duration_cast<milliseconds>(steady_clock::now() - start);
    return false;
}

// What the engine does after hasPendingError(): clear, let Qt read, take lastError().
OsError errorAfterRead(Core::NativeHandle handle)
{
    Core::clearLastError();
    char buffer[64];
    ::recv(SOCKET(handle), buffer, sizeof buffer, 0); // Qt's read; its error is not used
    ::WSASetLastError(0);                             // as Qt's TlsGetValue() on the way
    return Core::lastError();
}

void checkProbeAndPlan(int hostProbes)
{
    const Core::Profile &profile = Core::profile();
    // Wine 8 refuses TCP_KEEPINTVL/TCP_KEEPCNT: the probe must pick SIO_KEEPALIVE_VALS.
    check(profile.options.keepAliveValues, "run-time probe selects the SIO_KEEPALIVE_VALS fallback");
    const Core::Fields supported = Core::supportedFields(profile.options);
    check(supported == (Field::Enabled | Field::Idle | Field::Interval),
          "supportedFields() is Enabled|Idle|Interval (no probe count, no TCP_MAXRT)",
          "0x" + std::to_string(supported));
    check(Core::readableFields(profile.options) == Core::Fields(Field::Enabled),
          "readableFields() is Enabled only (SIO_KEEPALIVE_VALS is write-only)");
    // Wine's SIO_KEEPALIVE_VALS leaves the Linux host's count in force (read
    // from the host's /proc), not Windows' fixed 10.
    check(profile.limits.fixedProbeCount == hostProbes,
          "probe count reported as the host's " + std::to_string(hostProbes),
          std::to_string(profile.limits.fixedProbeCount));
    check(profile.limits.idle.granularity == 1ms && profile.limits.interval.granularity == 1ms,
          "SIO_KEEPALIVE_VALS limits in milliseconds");
    if (!profile.options.userTimeout.name)
        lacks("TCP_MAXRT (setsockopt: WSAENOPROTOOPT); the user timeout is reported unsupported");

    Core::Settings settings;
    settings.idle = 1500ms;
    settings.interval = 700ms;
    settings.probeCount = 3;
    settings.userTimeout = 5s; // Automatic: not applied where TCP_MAXRT is refused, not an error
    const Core::Plan plan = Core::plan(settings, profile);
    bool sio = false;
    bool count = false;
    for (const Core::Step &step : plan) {
        if (step.action == Core::Step::Action::SetKeepAliveValues)
            sio = step.value == 1500 && step.interval == 700;
        if (Core::contains(step.fields, Field::ProbeCount))
            count = true;
    }
    check(sio, "plan: one SIO_KEEPALIVE_VALS step with both values in ms {1500, 700}");
    check(!count, "plan: no probe count step (it cannot be set, it is not pretended)");
    settings.userTimeoutExplicit = true;
    const Core::Plan explicitPlan = Core::plan(settings, profile);
    check(!explicitPlan.empty() && explicitPlan.back().action == Core::Step::Action::Refuse,
          "plan: an explicit user timeout is refused without a call",
          explicitPlan.empty() ? std::string() : Core::describe({explicitPlan.back(), 0}));
}

void checkApply(unsigned short port)
{
    Connection connection(port, "hold");
    check(connection.ready(), "connected to the peer (hold)");
    if (!connection.ready())
        return;
    Core::Settings settings;
    settings.idle = 1500ms;
    settings.interval = 700ms;
    settings.probeCount = 3;
    settings.userTimeout = 5s;
    const Core::ApplyResult result =
            Core::apply(connection.handle(), Core::plan(settings, Core::profile()));
    check(result.refused == 0, "apply(): SIO_KEEPALIVE_VALS {on, 1500 ms, 700 ms} accepted",
          Core::message(result));
    const Core::ReadBack read = Core::readBack(connection.handle());
    check(read.enabled.value_or(false), "readBack(): SO_KEEPALIVE on");
    check(!read.idle && !read.interval && !read.probeCount && !read.userTimeout,
          "readBack(): idle, interval, count and user timeout unknown, not guessed");

    const Core::Health health = Core::health(connection.handle());
    DWORD version = 0;
    char info[256];
    DWORD returned = 0;
    const bool tcpInfo = ::WSAIoctl(SOCKET(connection.handle()), _WSAIORW(IOC_VENDOR, 39), &version,
                                    sizeof version, info, sizeof info, &returned, nullptr, nullptr)
            == 0;
    if (!tcpInfo) {
        const int error = ::WSAGetLastError();
        lacks("SIO_TCP_INFO (WSAIoctl: WSA error " + std::to_string(error)
              + "); health() must be invalid");
        check(health.state == Core::TcpState::Unknown && !health.rtt && !health.unackedSegments
                      && !health.totalRetransmits && !health.retransmissionTimeout,
              "health() invalid, every field empty");
    } else {
        check(health.state == Core::TcpState::Established && health.rtt.has_value(),
              "health(): SIO_TCP_INFO works, state Established with an RTT");
    }
    milliseconds elapsed{};
    check(!waitForPendingError(connection.handle(), 300ms, &elapsed),
          "hasPendingError() false on a healthy idle connection");
}

const char *name(Core::DescriptorKind kind)
{
    switch (kind) {
    case Core::DescriptorKind::TcpConnection:
        return "TcpConnection";
    case Core::DescriptorKind::Invalid:
        return "Invalid";
    case Core::DescriptorKind::NotASocket:
        return "NotASocket";
    case Core::DescriptorKind::Listening:
        return "Listening";
    case Core::DescriptorKind::Unconnected:
        return "Unconnected";
    case Core::DescriptorKind::Udp:
        return "Udp";
    case Core::DescriptorKind::Local:
        return "Local";
    case Core::DescriptorKind::Other:
        return "Other";
    }
    return "?";
}

// A socket of \a type bound to 127.0.0.1, closed when it goes.
class BoundSocket
{
public:
    BoundSocket(int family, int type, int protocol, bool bind)
    {
        m_socket = ::socket(family, type, protocol);
        if (m_socket == INVALID_SOCKET || !bind)
            return;
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = ::htonl(INADDR_LOOPBACK);
        if (::bind(m_socket, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
            close();
    }
    ~BoundSocket() { close(); }
    BoundSocket(const BoundSocket &) = delete;
    BoundSocket &operator=(const BoundSocket &) = delete;

    bool valid() const { return m_socket != INVALID_SOCKET; }
    Core::NativeHandle handle() const { return Core::NativeHandle(m_socket); }
    void close()
    {
        if (m_socket != INVALID_SOCKET)
            ::closesocket(m_socket);
        m_socket = INVALID_SOCKET;
    }

private:
    SOCKET m_socket = INVALID_SOCKET;
};

void checkKind(Core::NativeHandle handle, Core::DescriptorKind expected, const std::string &what)
{
    const Core::DescriptorKind kind = Core::classifyDescriptor(handle);
    check(kind == expected, std::string("classifyDescriptor(): ") + what + " is " + name(expected),
          name(kind));
}

void checkDescriptorKinds(unsigned short port)
{
    checkKind(-1, Core::DescriptorKind::Invalid, "INVALID_SOCKET");
    {
        Connection connection(port, "hold");
        check(connection.ready(), "connected to the peer (hold)");
        checkKind(connection.handle(), Core::DescriptorKind::TcpConnection,
                  "a connected TCP socket");
    }
    {
        Connection connection(port, "reset");
        check(connection.ready(), "connected to the peer (reset)");
        milliseconds elapsed{};
        check(waitForPendingError(connection.handle(), 5s, &elapsed), "RST: hasPendingError() true");
        checkKind(connection.handle(), Core::DescriptorKind::TcpConnection,
                  "a TCP socket reset by its peer");
    }
    BoundSocket listener(AF_INET, SOCK_STREAM, IPPROTO_TCP, true);
    check(listener.valid() && ::listen(SOCKET(listener.handle()), 1) == 0, "listening TCP socket");
    checkKind(listener.handle(), Core::DescriptorKind::Listening, "a listening TCP socket");
    BoundSocket unconnected(AF_INET, SOCK_STREAM, IPPROTO_TCP, false);
    checkKind(unconnected.handle(), Core::DescriptorKind::Unconnected, "an unbound TCP socket");
    BoundSocket bound(AF_INET, SOCK_STREAM, IPPROTO_TCP, true);
    checkKind(bound.handle(), Core::DescriptorKind::Unconnected, "a bound TCP socket");
    BoundSocket udp(AF_INET, SOCK_DGRAM, IPPROTO_UDP, true);
    checkKind(udp.handle(), Core::DescriptorKind::Udp, "a bound UDP socket");
    BoundSocket local(AF_UNIX, SOCK_STREAM, 0, false);
    if (local.valid())
        checkKind(local.handle(), Core::DescriptorKind::Local, "an AF_UNIX stream socket");
    else
        lacks("AF_UNIX stream sockets (socket(): WSA error " + std::to_string(::WSAGetLastError())
              + ")");
    const Core::NativeHandle closed = udp.handle();
    udp.close();
    checkKind(closed, Core::DescriptorKind::NotASocket, "a closed socket handle");
    check(Core::describe(listener.handle(), Core::DescriptorKind::Listening)
                  == "descriptor " + std::to_string(listener.handle())
                          + " is a listening TCP socket, not a connected TCP socket",
          "describe(): names the descriptor and what it is");
}

void checkSilentPeer(unsigned short port, int hostProbes)
{
    Connection connection(port, "silent");
    check(connection.ready(), "connected to the peer (silent)");
    if (!connection.ready())
        return;
    Core::Settings settings;
    settings.idle = 1s;
    settings.interval = 1s;
    settings.probeCount = 3;
    const Core::ApplyResult result =
            Core::apply(connection.handle(), Core::plan(settings, Core::profile()));
    check(result.refused == 0, "apply(): idle 1 s, interval 1 s", Core::message(result));
    // Windows sends 10 probes; Wine leaves the Linux host's count in force.
    const int probes = std::max(hostProbes, Core::profile().limits.fixedProbeCount);
    const milliseconds bound = 1s + probes * 1s;
    milliseconds elapsed{};
    const bool dead = waitForPendingError(connection.handle(), bound + 3s, &elapsed);
    check(dead, "silent peer: hasPendingError() true", std::to_string(elapsed.count()) + " ms");
    if (!dead)
        return;
    check(elapsed >= 2s && elapsed <= bound + 1500ms,
          "silent peer: found within idle + interval x " + std::to_string(probes) + " = "
                  + std::to_string(bound.count()) + " ms (+1.5 s)",
          std::to_string(elapsed.count()) + " ms");
    std::int64_t soError = 0;
    const bool readable =
            Core::Native::getOption(connection.handle(), SOL_SOCKET, SO_ERROR, &soError);
    std::printf("INFO silent peer: SO_ERROR %lld after the check\n",
                readable ? static_cast<long long>(soError) : -1LL);
    const OsError error = errorAfterRead(connection.handle());
    check(error == OsError::TimedOut,
          "silent peer: classified as a timeout (lastError() after the read)", name(error));
}

void checkReset(unsigned short port)
{
    Connection connection(port, "reset");
    check(connection.ready(), "connected to the peer (reset)");
    if (!connection.ready())
        return;
    milliseconds elapsed{};
    const bool seen = waitForPendingError(connection.handle(), 5s, &elapsed);
    check(seen, "RST: hasPendingError() true", std::to_string(elapsed.count()) + " ms");
    if (!seen)
        return;
    // Only the clear right after the check keeps what it found; a second one
    // (a blocking wait beginning later, say) drops the stale record.
    Core::clearLastError();
    Core::clearLastError();
    check(Core::lastError() == OsError::None, "RST: a stale record is cleared");
    check(Core::hasPendingError(connection.handle()),
          "RST: hasPendingError() did not consume the error");
    const OsError error = errorAfterRead(connection.handle());
    check(error == OsError::Reset, "RST: classified as a reset", name(error));
    check(Core::lastError() == OsError::None, "RST: lastError() is taken once");
}

void checkFin(unsigned short port)
{
    Connection connection(port, "fin");
    check(connection.ready(), "connected to the peer (fin)");
    if (!connection.ready())
        return;
    // Wait until the FIN has arrived (a peek returns 0), then ask.
    bool ended = false;
    for (int round = 0; round < 250 && !ended; ++round) {
        char byte;
        WSAPOLLFD entry{};
        entry.fd = SOCKET(connection.handle());
        entry.events = POLLRDNORM;
        ended = ::WSAPoll(&entry, 1, 20) > 0
                && ::recv(SOCKET(connection.handle()), &byte, 1, MSG_PEEK) == 0;
    }
    check(ended, "FIN: end of stream seen");
    milliseconds elapsed{};
    check(!waitForPendingError(connection.handle(), 500ms, &elapsed),
          "FIN: hasPendingError() false (an orderly close is no error)");
    Core::clearLastError();
    check(Core::lastError() == OsError::None, "FIN: lastError() None");
}

void checkErrorMapping()
{
    struct Row
    {
        int code;
        const char *name;
        OsError expected;
    };
    const Row rows[] = {
            {0, "0", OsError::None},
            {WSAETIMEDOUT, "WSAETIMEDOUT", OsError::TimedOut},
            {WSAENETRESET, "WSAENETRESET", OsError::TimedOut},
            {WSAECONNABORTED, "WSAECONNABORTED", OsError::TimedOut},
            {WSAECONNRESET, "WSAECONNRESET", OsError::Reset},
            {WSAEHOSTUNREACH, "WSAEHOSTUNREACH", OsError::HostUnreachable},
            {WSAEHOSTDOWN, "WSAEHOSTDOWN", OsError::HostUnreachable},
            {WSAENETUNREACH, "WSAENETUNREACH", OsError::NetworkUnreachable},
            {WSAENETDOWN, "WSAENETDOWN", OsError::NetworkUnreachable},
            {WSAENOPROTOOPT, "WSAENOPROTOOPT", OsError::Other},
            {WSAEINVAL, "WSAEINVAL", OsError::Other},
    };
    for (const Row &row : rows) {
        const OsError got = Core::osErrorFromCode(row.code);
        check(got == row.expected,
              std::string("osErrorFromCode(") + row.name + ") is " + name(row.expected), name(got));
        if (row.code == 0)
            continue;
        const std::string text = Core::errorText(row.code);
        const std::string suffix = " (WSA error " + std::to_string(row.code) + ")";
        if (text.rfind("Unknown error", 0) == 0)
            lacks(std::string("a FormatMessage() text for ") + row.name);
        check(text.size() > suffix.size()
                      && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0,
              std::string("errorText(") + row.name + ") names the code", text);
    }
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::printf("usage: tst_windowscore PORT HOSTPROBES\n");
        return 2;
    }
    const unsigned short port = static_cast<unsigned short>(std::atoi(argv[1]));
    const int hostProbes = std::atoi(argv[2]);
    WSADATA data;
    if (::WSAStartup(MAKEWORD(2, 2), &data) != 0) {
        std::printf("FAIL WSAStartup\n");
        return 1;
    }
    const std::string wine = wineVersion();
    std::printf("INFO running under %s\n", wine.empty() ? "Windows" : ("Wine " + wine).c_str());
    checkProbeAndPlan(hostProbes);
    checkErrorMapping();
    checkApply(port);
    checkFin(port);
    checkReset(port);
    checkDescriptorKinds(port);
    checkSilentPeer(port, hostProbes);
    ::WSACleanup();
    std::printf("%s: %d failed\n", failures == 0 ? "OK" : "FAILED", failures);
    return failures == 0 ? 0 : 1;
}
