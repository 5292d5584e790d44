// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the platform core, plain C++17 over the native socket handle, no
// Qt. The only code that touches socket options. keepaliveplatformcore.cpp
// holds what every platform shares (plan(), rounding, executing a plan,
// reading back, messages); keepaliveplatformcore_windows.cpp builds the
// Windows profile from what the run-time probe found (no OS header, so that
// both of its paths are unit-tested anywhere); one file per platform family
// holds its option table, limits and system calls (keepaliveplatform_linux.cpp,
// keepaliveplatform_bsd.cpp for macOS and FreeBSD, keepaliveplatform_other.cpp
// for the POSIX systems without per-socket timing support here, all over
// keepaliveplatform_posix.cpp; keepaliveplatform_win.cpp), chosen by the build
// system. keepaliveplatform_p.h is the Qt-facing adapter. Nothing here is
// installed.

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace KeepAliveCore {

//! A connected TCP socket: the descriptor (int) on POSIX, the SOCKET on Windows.
using NativeHandle = std::intptr_t;

//! The settings, with the values of KeepAliveOptions::Field.
enum class Field : unsigned {
    Enabled = 0x01,
    Idle = 0x02,
    Interval = 0x04,
    ProbeCount = 0x08,
    UserTimeout = 0x10,
};
using Fields = unsigned;
constexpr Fields AllFields = 0x1f;

constexpr Fields operator|(Field a, Field b)
{
    return Fields(a) | Fields(b);
}
constexpr Fields operator|(Fields a, Field b)
{
    return a | Fields(b);
}
constexpr Fields &operator|=(Fields &a, Field b)
{
    return a |= Fields(b);
}
constexpr bool contains(Fields fields, Field field)
{
    return (fields & Fields(field)) != 0;
}

//! What to set on a socket (KeepAliveOptions without Qt; already validated).
struct Settings
{
    bool enabled = true;
    std::chrono::milliseconds idle{0};
    std::chrono::milliseconds interval{0};
    int probeCount = 0;
    //! The retransmission bound to apply; 0 = off.
    std::chrono::milliseconds userTimeout{0};
    //! The caller asked for the bound itself (not derived from keepalive): never silently dropped.
    bool userTimeoutExplicit = false;
};

//! What a platform accepts for one duration field.
struct DurationLimit
{
    //! The smallest value accepted, before rounding up to the granularity.
    std::chrono::milliseconds minimum;
    std::chrono::milliseconds maximum;
    std::chrono::milliseconds granularity; //!< 1000 ms for seconds-only options
};

struct Limits
{
    DurationLimit idle;
    DurationLimit interval;
    DurationLimit userTimeout;
    int minimumProbeCount;
    int maximumProbeCount;
    //! Probes the platform really sends when the count cannot be set (Windows SIO_KEEPALIVE_VALS: 10; Wine: the host's), else 0.
    int fixedProbeCount;
    /*!
        False where the retransmission bound does not end a connection whose
        peer went silent behind a zero window (macOS: TCP_RXT_CONNDROPTIME is
        checked by the retransmit timer only, not the persist timer). No
        detection bound can be promised there.
    */
    bool userTimeoutCoversZeroWindow = true;
};

//! Rounds \a value up to \a limit's granularity; values <= 0 and overflow saturate, never wrap.
std::chrono::milliseconds roundUp(std::chrono::milliseconds value, const DurationLimit &limit);

//! How a field's value is written into its socket option.
enum class Unit { Boolean, Count, Seconds, Milliseconds };

//! One socket option carrying one field; an empty name: the platform has none.
struct SocketOption
{
    const char *name = nullptr;
    int level = 0;
    int option = 0;
    Unit unit = Unit::Count;
    //! False where reading it back is not expected to work (readableFields()).
    bool readable = true;
};

//! A platform's socket options, one per field.
struct OptionTable
{
    SocketOption enabled;
    SocketOption idle;
    SocketOption interval;
    SocketOption probeCount;
    SocketOption userTimeout;
    /*!
        Windows before 10 1709: idle and interval go together, in
        milliseconds, through the write-only SIO_KEEPALIVE_VALS (the idle and
        interval entries are then empty).
    */
    bool keepAliveValues = false;
    /*!
        The userTimeout value that "off" writes; empty where it cannot be
        expressed. Read back as "no bound" only where it is 0.
    */
    std::optional<std::int64_t> userTimeoutOff = 0;
    //! Another userTimeout value read back as "no bound" (Windows: 0xFFFFFFFF, retransmit forever).
    std::optional<std::int64_t> userTimeoutForever;
    //! Why an explicit bound is refused where userTimeout is empty.
    const char *whyNoUserTimeout = nullptr;
    //! Why "off" is refused where userTimeoutOff is empty.
    const char *whyNoUserTimeoutOff = nullptr;
    //! SO_ERROR, which takePendingError() reads (reading it clears it).
    SocketOption socketError;
};

//! Everything plan() needs to know about a platform. No system call: any profile plans anywhere.
struct Profile
{
    Limits limits;
    OptionTable options;
};

//! The running platform's profile (may probe the OS once, then cached).
const Profile &profile();

//! What the run-time probe of a fresh socket found on the running Windows.
struct WindowsSupport
{
    //! TCP_KEEPINTVL (seconds, 10 1709+) and TCP_KEEPCNT (1703+) accepted.
    bool perSocketOptions = false;
    //! TCP_MAXRT accepted (Wine refuses it with WSAENOPROTOOPT).
    bool maxRtSettable = false;
    //! The error that refused TCP_MAXRT, for the message; 0 when accepted.
    int maxRtError = 0;
    //! A fresh socket's TCP_MAXRT (seconds), where it could be read.
    std::optional<std::uint32_t> defaultMaxRt;
    /*!
        Under Wine: the probe count of the host's kernel (Linux
        net.ipv4.tcp_keepalive_probes), which Wine's SIO_KEEPALIVE_VALS leaves
        in force instead of Windows' fixed 10; empty on Windows.
    */
    std::optional<int> hostProbeCount;
};

//! The Windows numbers windowsProfile() uses, checked against the SDK in keepaliveplatform_win.cpp.
namespace WindowsConstants {
constexpr int SolSocket = 0xffff;   // winsock2.h SOL_SOCKET
constexpr int SoKeepAlive = 0x0008; // winsock2.h SO_KEEPALIVE
constexpr int SoError = 0x1007;     // winsock2.h SO_ERROR
constexpr int IpProtoTcp = 6;       // ws2def.h IPPROTO_TCP
// ws2ipdef.h; TCP_KEEPIDLE has the number of TCP_KEEPALIVE, which takes ms before 1709.
constexpr int TcpKeepIdle = 3;
constexpr int TcpMaxRt = 5;
constexpr int TcpKeepCnt = 16;
constexpr int TcpKeepIntvl = 17;
constexpr int WsaENoProtoOpt = 10042; // winerror.h WSAENOPROTOOPT
} // namespace WindowsConstants

/*!
    The Windows profile for what the probe found: per-socket options, or the
    SIO_KEEPALIVE_VALS fallback (milliseconds, idle and interval together, a
    fixed probe count, nothing readable); TCP_MAXRT only where accepted. No
    system call and no Windows header: planned and unit-tested anywhere.
*/
Profile windowsProfile(const WindowsSupport &support);

//! The fields \a options can set per socket.
Fields supportedFields(const OptionTable &options);
//! The fields \a options can read back from a socket.
Fields readableFields(const OptionTable &options);

//! One system call to make, decided before any is made.
struct Step
{
    enum class Action {
        SetOption,          //!< setsockopt(level, option, value)
        SetKeepAliveValues, //!< Windows SIO_KEEPALIVE_VALS {on, value ms, interval ms}
        Refuse,             //!< nothing the platform can do: refused without a call
    };
    Action action = Action::SetOption;
    Fields fields = 0;
    //! The option's name, or "user timeout" where the platform has no option.
    const char *name = nullptr;
    int level = 0;
    int option = 0;
    //! In the option's unit; SetKeepAliveValues: the idle time in ms; Refuse: the bound in ms, 0 = off.
    std::int64_t value = 0;
    std::int64_t interval = 0;    //!< SetKeepAliveValues: the interval in ms
    const char *reason = nullptr; //!< Refuse: why
};
using Plan = std::vector<Step>;

/*!
    Decides which options \a settings need on a platform described by
    \a profile, and their values in each option's unit (durations rounded up
    to the limit's granularity, seconds never truncated). Makes no system
    call. The timing options are planned even while keepalive is off, so
    that turning it on later (e.g. through QAbstractSocket::KeepAliveOption)
    uses them; SIO_KEEPALIVE_VALS is the exception, as it switches keepalive
    on.
*/
Plan plan(const Settings &settings, const Profile &profile);
//! The step (none or one) that sets only the retransmission bound \a timeout (0 = off), asked for explicitly.
Plan planUserTimeout(std::chrono::milliseconds timeout, const Profile &profile);

//! A step that failed: \a error is the OS error code, 0 for a Refuse step.
struct Refusal
{
    Step step;
    int error = 0;
};

struct ApplyResult
{
    Fields refused = 0; //!< fields the kernel (or the plan) rejected
    std::vector<Refusal> refusals;
};

//! Executes every step of \a plan on \a handle; refusals are collected, not fatal.
ApplyResult apply(NativeHandle handle, const Plan &plan);
//! e.g. "TCP_KEEPIDLE = 0 refused: Invalid argument".
std::string describe(const Refusal &refusal);
//! describe() of every refusal, joined by "; "; empty when nothing was refused.
std::string message(const ApplyResult &result);

//! What the kernel holds; empty where the platform cannot read a field.
struct ReadBack
{
    std::optional<bool> enabled;
    std::optional<std::chrono::milliseconds> idle;
    std::optional<std::chrono::milliseconds> interval;
    std::optional<int> probeCount;
    std::optional<std::chrono::milliseconds> userTimeout; //!< 0 = no bound
};

//! Reads the options of \a options back from \a handle.
ReadBack readBack(NativeHandle handle, const OptionTable &options);
//! readBack() with the running platform's options.
ReadBack readBack(NativeHandle handle);

//! Sets only the retransmission bound (0 = off); used by the slow-reader guard. False if refused.
bool setUserTimeout(NativeHandle handle, std::chrono::milliseconds timeout);

/*!
    Cheap check made on every read/write notification: true when the kernel
    holds a pending socket error (the next read would fail). Must not consume
    the error Qt's read needs. One system call on a healthy socket; a few more
    only once the connection has hung up (BSD kqueue; Windows peek and
    SO_ERROR, whose code it records for lastError()).
*/
bool hasPendingError(NativeHandle handle);

//! What awaitReadiness() found; neither after a timeout or a failure.
struct Readiness
{
    bool readable = false; //!< a read would not block: data, an end-of-file or a pending error
    bool writable = false;
};

/*!
    Blocks until \a handle is readable (asked with \a read) or writable
    (asked with \a write), for at most \a timeout (negative: no limit). A
    pending error or a hang-up counts as readable, asked or not. Consumes
    nothing; a wait interrupted by a signal resumes. What one of Qt's
    blocking waitFor...() would act on, seen first.
*/
Readiness awaitReadiness(NativeHandle handle, bool read, bool write,
                         std::chrono::milliseconds timeout);

//! What a descriptor handed to setSocketDescriptor() is, as far as keepalive cares.
enum class DescriptorKind {
    //! A connected TCP socket, or one whose connection failed with its error still pending.
    TcpConnection,
    Invalid,     //!< -1, or not an open descriptor (EBADF)
    NotASocket,  //!< a file, pipe or device (ENOTSOCK); on Windows also a closed handle
    Listening,   //!< a listening TCP socket (SO_ACCEPTCONN)
    Unconnected, //!< a TCP socket without a peer: not connected yet
    Udp,         //!< an Internet datagram (UDP) socket, bound or connected
    Local,       //!< a UNIX-domain socket (AF_UNIX), of any type
    Other,       //!< any other socket: raw, another address family
};

/*!
    What \a handle is. Qt adopts nearly any descriptor as a connected socket
    (a listener, UDP, a UNIX-domain socket, a pipe); keepalive belongs on a
    TcpConnection only: on a listener it can close the listener itself
    (macOS, NetBSD), and the read errors of the others are no dead peer.
    POSIX: SO_TYPE, getpeername() (whose family is the socket's) or
    getsockname(), SO_ACCEPTCONN; Windows: SO_PROTOCOL_INFOW, getpeername(),
    SO_ACCEPTCONN. Two system calls for a connected TCP socket. A TCP socket
    whose connection was reset or timed out before it was adopted has no peer
    any more but still holds the error (POLLERR): a TcpConnection, so that
    its death is reported like any other. SOCK_STREAM over IPv4/IPv6 is taken
    for TCP; another protocol there (SCTP) refuses the TCP options visibly.
*/
DescriptorKind classifyDescriptor(NativeHandle handle);
/*!
    Why keepalive is not applied to \a handle, of kind \a kind, e.g.
    "descriptor 7 is a listening TCP socket, not a connected TCP socket";
    empty for a TcpConnection.
*/
std::string describe(NativeHandle handle, DescriptorKind kind);

//! A failed socket call's error, as far as dead-peer classification cares.
enum class OsError {
    None,
    TimedOut,
    Reset,
    //! A RST that answered our data after the peer's FIN (EPIPE): the peer closed, it is not dead.
    PeerClosed,
    HostUnreachable,
    NetworkUnreachable,
    Other,
};

//! The running platform's error code (errno; a WSA error on Windows) as an OsError.
OsError osErrorFromCode(int code);
//! The OS's text for \a code, UTF-8 (Windows: "<text> (WSA error <code>)").
std::string errorText(int code);

/*!
    Clears the calling thread's last socket error (errno). On Windows it
    clears the error hasPendingError() recorded, except right after the call
    that recorded it: that one is the error Qt's coming read will meet.
    Inline on POSIX: it runs on every socket notification.
*/
#ifdef _WIN32
void clearLastError();
#else
inline void clearLastError()
{
    errno = 0;
}
#endif
/*!
    The calling thread's last socket error: errno on POSIX. On Windows the
    pending error that hasPendingError() saw before Qt's read (taken: a second
    call returns None), as WSAGetLastError() does not survive Qt's read.
*/
OsError lastError();
/*!
    Takes (and clears) the pending socket error of \a handle (\c SO_ERROR).
    Only for Unbuffered sockets, whose death is reported before the
    application reads what the kernel still holds: Qt's later read then ends
    at end-of-file instead of dropping those bytes.
*/
OsError takePendingError(NativeHandle handle);

//! The TCP state machine's state, in the order of ConnectionHealth::TcpState.
enum class TcpState {
    Unknown,
    Established,
    SynSent,
    SynReceived,
    FinWait1,
    FinWait2,
    TimeWait,
    Closed,
    CloseWait,
    LastAck,
    Listen,
    Closing,
};

//! \a table[value], Unknown outside it: a platform's state numbers, in its own order.
template<std::size_t N>
constexpr TcpState tcpStateAt(const TcpState (&table)[N], long long value)
{
    return value >= 0 && value < static_cast<long long>(N) ? table[value] : TcpState::Unknown;
}

//! The kernel's view of the connection (see ConnectionHealth); empty where the platform has none.
struct Health
{
    TcpState state = TcpState::Unknown;
    std::optional<std::chrono::microseconds> rtt;
    std::optional<std::chrono::microseconds> rttVariance;
    std::optional<std::chrono::microseconds> retransmissionTimeout;
    std::optional<int> retransmits;
    std::optional<std::uint32_t> totalRetransmits;
    std::optional<int> probes;
    std::optional<int> backoff;
    std::optional<std::uint32_t> unackedSegments;
    std::optional<std::uint32_t> notSentBytes;
    std::optional<std::chrono::milliseconds> sinceLastDataReceived;
    std::optional<std::chrono::milliseconds> sinceLastDataSent;
    std::optional<std::chrono::milliseconds> sinceLastAckReceived;
};

//! The kernel's view of \a handle's connection; state Unknown for -1 or where the platform has none.
Health health(NativeHandle handle);

//! One end of a TCP connection as the kernel names it.
struct Endpoint
{
    int ipVersion = 0;             //!< 4 or 6; an IPv4-mapped IPv6 address is given as IPv4
    std::uint8_t address[16] = {}; //!< network byte order; IPv4 in the first 4 bytes
    std::uint16_t port = 0;        //!< host byte order
};

//! Both ends of a TCP connection.
struct Endpoints
{
    Endpoint local;
    //! None once a reset or timeout ended the connection (getpeername(): ENOTCONN).
    std::optional<Endpoint> peer;
};

/*!
    The ends of \a handle when it is a TCP connection (classifyDescriptor(),
    then getsockname(), getpeername()); nothing for anything else: a closed
    number, a listener, UDP, a local socket, a file. Lets the library check,
    with no knowledge of Qt's internals, that a descriptor is the connection
    a socket reports.
*/
std::optional<Endpoints> endpoints(NativeHandle handle);

/*!
    A second handle on \a handle's socket (POSIX: dup(), close-on-exec), so
    that the kernel's view of the connection (health()) outlives Qt's
    close() of its own descriptor; -1 where the platform has none (Windows)
    or on failure. While it is held, a close() of the other handle neither
    ends the connection nor sends a FIN: release() it as soon as Qt closes.
*/
NativeHandle retain(NativeHandle handle);
//! Closes a handle from retain(); nothing for -1.
void release(NativeHandle retained);

//! The system calls apply() and readBack() make; one implementation per platform family.
namespace Native {

//! Sets an integer option (int on POSIX, DWORD on Windows): 0, or the OS error code.
int setOption(NativeHandle handle, int level, int option, std::int64_t value);
//! Reads an integer option; false on failure.
bool getOption(NativeHandle handle, int level, int option, std::int64_t *value);
//! Windows SIO_KEEPALIVE_VALS {on, idle, interval}, in ms: 0, or the OS error code.
int setKeepAliveValues(NativeHandle handle, std::int64_t idle, std::int64_t interval);

} // namespace Native

} // namespace KeepAliveCore
