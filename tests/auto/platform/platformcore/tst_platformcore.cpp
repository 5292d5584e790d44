// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The Qt-free platform core (keepaliveplatformcore_p.h), without a socket
// where it can be: what plan() decides to set for Linux-, macOS-, FreeBSD- and
// Windows-like profiles (any profile plans anywhere), rounding, error mapping
// and messages. A loopback connection checks that the running platform's
// plan really applies and reads back.

#include "keepaliveplatformcore_p.h"

#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QtTest>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#if defined(Q_OS_WIN)
#  include <winsock2.h>
#else
#  include <netinet/in.h>
#  include <poll.h>
#  include <sys/socket.h>
#  include <fcntl.h>
#  include <unistd.h>
#endif
#if defined(Q_OS_LINUX)
#  include <linux/netlink.h>
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Core = KeepAliveCore;
using Core::Field;
using Core::OsError;
using Core::Step;
using Core::Unit;

Q_DECLARE_METATYPE(KeepAliveCore::Profile)
Q_DECLARE_METATYPE(KeepAliveCore::Settings)
Q_DECLARE_METATYPE(KeepAliveCore::OsError)
Q_DECLARE_METATYPE(KeepAliveCore::DurationLimit)
Q_DECLARE_METATYPE(KeepAliveCore::DescriptorKind)

namespace {

// Platform profiles as the platform files build them, with their header
// values written out: plan() makes no system call, so all plan here.

Core::Limits secondsLimits(milliseconds longest, int maximumProbeCount,
                           const Core::DurationLimit &userTimeout)
{
    const Core::DurationLimit wholeSeconds{1ms, longest, 1s};
    return Core::Limits{wholeSeconds, wholeSeconds, userTimeout, 1, maximumProbeCount, 0};
}

Core::Profile linuxLike()
{
    Core::Profile profile;
    profile.limits = secondsLimits(32767s, 127, {1s, milliseconds(INT_MAX), 1ms});
    profile.options.enabled = {"SO_KEEPALIVE", 1, 9, Unit::Boolean};
    profile.options.idle = {"TCP_KEEPIDLE", 6, 4, Unit::Seconds};
    profile.options.interval = {"TCP_KEEPINTVL", 6, 5, Unit::Seconds};
    profile.options.probeCount = {"TCP_KEEPCNT", 6, 6, Unit::Count};
    profile.options.userTimeout = {"TCP_USER_TIMEOUT", 6, 18, Unit::Milliseconds};
    return profile;
}

Core::Profile macOSLike()
{
    Core::Profile profile;
    profile.limits = secondsLimits(2147483s, INT_MAX, {1s, 2147483s, 1s});
    profile.options.enabled = {"SO_KEEPALIVE", 0xffff, 0x8, Unit::Boolean};
    profile.options.idle = {"TCP_KEEPALIVE", 6, 0x10, Unit::Seconds};
    profile.options.interval = {"TCP_KEEPINTVL", 6, 0x101, Unit::Seconds};
    profile.options.probeCount = {"TCP_KEEPCNT", 6, 0x102, Unit::Count};
    profile.options.userTimeout = {"TCP_RXT_CONNDROPTIME", 6, 0x80, Unit::Seconds};
    return profile;
}

Core::Profile freeBSDLike()
{
    Core::Profile profile;
    profile.limits = secondsLimits(2147483s, INT_MAX, {1s, milliseconds::max(), 1ms});
    profile.options.enabled = {"SO_KEEPALIVE", 0xffff, 0x8, Unit::Boolean};
    profile.options.idle = {"TCP_KEEPIDLE", 6, 256, Unit::Seconds};
    profile.options.interval = {"TCP_KEEPINTVL", 6, 512, Unit::Seconds};
    profile.options.probeCount = {"TCP_KEEPCNT", 6, 1024, Unit::Count};
    profile.options.whyNoUserTimeout = "no TCP_USER_TIMEOUT";
    return profile;
}

// FreeBSD 14.0+: TCP_MAXUNACKTIME (sys/netinet/tcp.h: 68), whole seconds, 0 = off.
Core::Profile freeBSD14Like()
{
    Core::Profile profile = freeBSDLike();
    profile.limits.userTimeout = {1s, 2147483s, 1s};
    profile.options.userTimeout = {"TCP_MAXUNACKTIME", 6, 68, Unit::Seconds};
    return profile;
}

// The Windows profile as keepaliveplatform_win.cpp builds it, with the run-time
// probe's answer injected: both paths are planned here, whatever runs the test.
Core::Profile windowsWith(bool perSocketOptions, bool maxRtSettable,
                          std::optional<std::uint32_t> defaultMaxRt, int maxRtError = 0)
{
    Core::WindowsSupport support;
    support.perSocketOptions = perSocketOptions;
    support.maxRtSettable = maxRtSettable;
    support.maxRtError = maxRtError;
    support.defaultMaxRt = defaultMaxRt;
    return Core::windowsProfile(support);
}

// Windows 10 1709+: per-socket options; a fresh socket's TCP_MAXRT was 21.
Core::Profile windowsLike()
{
    return windowsWith(true, true, 21);
}

// Older Windows: SIO_KEEPALIVE_VALS in ms, 10 probes; TCP_MAXRT unreadable.
Core::Profile windowsSioLike()
{
    return windowsWith(false, true, std::nullopt);
}

// What the probe finds under Wine 8: neither the per-socket options nor
// TCP_MAXRT (both WSAENOPROTOOPT, 10042).
Core::Profile wineLike()
{
    return windowsWith(false, false, std::nullopt, 10042);
}

Core::Settings settings(bool enabled, milliseconds idle, milliseconds interval, int probeCount,
                        milliseconds userTimeout, bool userTimeoutExplicit = false)
{
    Core::Settings settings;
    settings.enabled = enabled;
    settings.idle = idle;
    settings.interval = interval;
    settings.probeCount = probeCount;
    settings.userTimeout = userTimeout;
    settings.userTimeoutExplicit = userTimeoutExplicit;
    return settings;
}

// Each step as its refusal message starts ("TCP_KEEPIDLE = 2"); a planned refusal in full.
QStringList render(const Core::Plan &plan)
{
    QStringList steps;
    for (const Step &step : plan) {
        QString text = QString::fromStdString(Core::describe(Core::Refusal{step, 0}));
        if (step.action != Step::Action::Refuse)
            text.truncate(text.indexOf(QLatin1String(" refused: ")));
        steps << text;
    }
    return steps;
}

const Core::SocketOption &optionFor(const Core::OptionTable &options, Field field)
{
    switch (field) {
    case Field::Enabled:
        return options.enabled;
    case Field::Idle:
        return options.idle;
    case Field::Interval:
        return options.interval;
    case Field::ProbeCount:
        return options.probeCount;
    case Field::UserTimeout:
        break;
    }
    return options.userTimeout;
}

// Every step sets the field's own option of the profile, at its level.
void checkWiring(const Core::Plan &plan, const Core::Profile &profile)
{
    for (const Step &step : plan) {
        switch (step.action) {
        case Step::Action::SetOption: {
            const Core::SocketOption *match = nullptr;
            for (Field field : {Field::Enabled, Field::Idle, Field::Interval, Field::ProbeCount,
                                Field::UserTimeout}) {
                if (step.fields == Core::Fields(field))
                    match = &optionFor(profile.options, field);
            }
            QVERIFY2(match, step.name);
            QCOMPARE(QByteArray(step.name), QByteArray(match->name));
            QCOMPARE(step.level, match->level);
            QCOMPARE(step.option, match->option);
            break;
        }
        case Step::Action::SetKeepAliveValues:
            QVERIFY(profile.options.keepAliveValues);
            QCOMPARE(step.fields, Field::Idle | Field::Interval);
            break;
        case Step::Action::Refuse:
            QCOMPARE(step.fields, Core::Fields(Field::UserTimeout));
            QVERIFY(step.reason);
            break;
        }
    }
}

QString qString(const std::string &text)
{
    return QString::fromStdString(text);
}

QStringList lines(const char *text)
{
    return QString::fromLatin1(text).split(QLatin1Char('|'));
}

struct Connection
{
    QTcpServer server;
    QTcpSocket client;
    std::unique_ptr<QTcpSocket> accepted;

    bool open()
    {
        if (!server.listen(QHostAddress::LocalHost, 0))
            return false;
        client.connectToHost(QHostAddress::LocalHost, server.serverPort());
        if (!client.waitForConnected(10000) || !server.waitForNewConnection(10000))
            return false;
        accepted.reset(server.nextPendingConnection());
        return accepted != nullptr;
    }
    Core::NativeHandle handle() const { return Core::NativeHandle(client.socketDescriptor()); }
};

#if !defined(Q_OS_WIN)
// Descriptors the test made, closed when it ends.
class OwnedDescriptors
{
public:
    OwnedDescriptors() = default;
    OwnedDescriptors(const OwnedDescriptors &) = delete;
    OwnedDescriptors &operator=(const OwnedDescriptors &) = delete;
    ~OwnedDescriptors()
    {
        for (int fd : m_fds)
            ::close(fd);
    }
    int own(int fd)
    {
        if (fd >= 0)
            m_fds.push_back(fd);
        return fd;
    }
    void close(int fd)
    {
        m_fds.erase(std::remove(m_fds.begin(), m_fds.end(), fd), m_fds.end());
        ::close(fd);
    }

private:
    std::vector<int> m_fds;
};

// A socket of \a type bound to 127.0.0.1, port 0; its address in \a address.
int boundSocket(OwnedDescriptors &own, int type, sockaddr_in *address)
{
    const int fd = own.own(::socket(AF_INET, type, 0));
    *address = sockaddr_in{};
    address->sin_family = AF_INET;
    address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof *address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(address), length) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr *>(address), &length) != 0)
        return -1;
    return fd;
}

// A loopback TCP connection: the connecting end in \a client, the accepted one returned.
int acceptedConnection(OwnedDescriptors &own, int *client)
{
    sockaddr_in address;
    const int listener = boundSocket(own, SOCK_STREAM, &address);
    *client = own.own(::socket(AF_INET, SOCK_STREAM, 0));
    if (listener < 0 || ::listen(listener, 1) != 0 || *client < 0
        || ::connect(*client, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
        return -1;
    return own.own(::accept(listener, nullptr, nullptr));
}

// The descriptor the classifyDescriptor() row \a kind names; -1 where it could not be made.
int makeDescriptor(const QByteArray &kind, OwnedDescriptors &own)
{
    sockaddr_in address;
    int other = -1;
    if (kind == "connected TCP, accepted end")
        return acceptedConnection(own, &other);
    if (kind == "connected TCP, connecting end")
        return acceptedConnection(own, &other) >= 0 ? other : -1;
    if (kind == "TCP closed by the peer (FIN)") {
        const int accepted = acceptedConnection(own, &other);
        return ::shutdown(other, SHUT_WR) == 0 ? accepted : -1;
    }
    if (kind == "TCP reset by the peer before adoption") {
        const int accepted = acceptedConnection(own, &other);
        const linger reset{1, 0};
        if (accepted < 0 || ::setsockopt(other, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) != 0)
            return -1;
        own.close(other);
        // The RST has arrived once the accepted end shows the error.
        pollfd entry{accepted, POLLIN, 0};
        return ::poll(&entry, 1, 10000) == 1 && (entry.revents & POLLERR) ? accepted : -1;
    }
    if (kind == "listening TCP") {
        const int listener = boundSocket(own, SOCK_STREAM, &address);
        return ::listen(listener, 1) == 0 ? listener : -1;
    }
    if (kind == "unconnected TCP")
        return own.own(::socket(AF_INET, SOCK_STREAM, 0));
    if (kind == "bound TCP, not listening")
        return boundSocket(own, SOCK_STREAM, &address);
    if (kind == "unconnected IPv6 TCP")
        return own.own(::socket(AF_INET6, SOCK_STREAM, 0));
    if (kind == "bound UDP")
        return boundSocket(own, SOCK_DGRAM, &address);
    if (kind == "connected UDP") {
        const int peer = boundSocket(own, SOCK_DGRAM, &address);
        const int udp = own.own(::socket(AF_INET, SOCK_DGRAM, 0));
        const bool connected = peer >= 0
                && ::connect(udp, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
        return connected ? udp : -1;
    }
    if (kind == "UNIX stream socketpair" || kind == "UNIX datagram socketpair") {
        int pair[2];
        if (::socketpair(AF_UNIX, kind.contains("stream") ? SOCK_STREAM : SOCK_DGRAM, 0, pair) != 0)
            return -1;
        own.own(pair[1]);
        return own.own(pair[0]);
    }
#  if defined(Q_OS_LINUX)
    if (kind == "netlink socket")
        return own.own(::socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
#  endif
    if (kind == "pipe") {
        int ends[2];
        if (::pipe(ends) != 0)
            return -1;
        own.own(ends[1]);
        return own.own(ends[0]);
    }
    if (kind == "device (/dev/null)")
        return own.own(::open("/dev/null", O_RDONLY));
    return -1;
}
#endif

} // namespace

class tst_PlatformCore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void plan_data();
    void plan();
    void planUserTimeout_data();
    void planUserTimeout();
    void planForRunningPlatform();
    void fields_data();
    void fields();
    void windowsLimits();
    void roundUp_data();
    void roundUp();
    void osErrorFromCode_data();
    void osErrorFromCode();
    void lastError();
    void messages();
    void applyAndReadBack();
    void refusedByTheKernel();
    void readBackOffValues();
    void noConnection();
    void classifyDescriptor_data();
    void classifyDescriptor();
    void classifyInvalidDescriptor();
};

void tst_PlatformCore::plan_data()
{
    QTest::addColumn<Core::Profile>("profile");
    QTest::addColumn<Core::Settings>("settings");
    QTest::addColumn<QStringList>("expected");

    QTest::newRow("Linux: seconds, user timeout in ms")
            << linuxLike() << settings(true, 10s, 2s, 3, 16s)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_USER_TIMEOUT = 16000");
    QTest::newRow("Linux: sub-second values round up, never to 0")
            << linuxLike() << settings(true, 1500ms, 1ms, 2, 3500ms)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 2|TCP_KEEPINTVL = 1|TCP_KEEPCNT = 2|"
                     "TCP_USER_TIMEOUT = 3500");
    QTest::newRow("Linux: timing set while keepalive is off, user timeout off")
            << linuxLike() << settings(false, 10s, 2s, 3, 0ms)
            << lines("SO_KEEPALIVE = 0|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_USER_TIMEOUT = 0");
    QTest::newRow("macOS: TCP_KEEPALIVE, TCP_RXT_CONNDROPTIME in seconds")
            << macOSLike() << settings(true, 1500ms, 2s, 3, 7500ms)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPALIVE = 2|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_RXT_CONNDROPTIME = 8");
    QTest::newRow("macOS: user timeout off")
            << macOSLike() << settings(true, 10s, 2s, 3, 0ms, true)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPALIVE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_RXT_CONNDROPTIME = 0");
    QTest::newRow("FreeBSD: automatic user timeout not applied, not refused")
            << freeBSDLike() << settings(true, 10s, 2s, 3, 16s)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3");
    QTest::newRow("FreeBSD: explicit user timeout refused")
            << freeBSDLike() << settings(true, 10s, 2s, 3, 5000ms, true)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "user timeout = 5000 ms refused: no TCP_USER_TIMEOUT");
    QTest::newRow("FreeBSD 14: TCP_MAXUNACKTIME in seconds, rounded up")
            << freeBSD14Like() << settings(true, 10s, 2s, 3, 4500ms, true)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_MAXUNACKTIME = 5");
    QTest::newRow("FreeBSD 14: off writes 0")
            << freeBSD14Like() << settings(true, 10s, 2s, 3, 0ms, true)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_MAXUNACKTIME = 0");
    QTest::newRow("FreeBSD: explicit off is no refusal")
            << freeBSDLike() << settings(true, 10s, 2s, 3, 0ms, true)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3");
    QTest::newRow("Windows 1709+: per-socket seconds, TCP_MAXRT in seconds")
            << windowsLike() << settings(true, 1500ms, 1s, 4, 5500ms)
            << lines("SO_KEEPALIVE = 1|TCP_KEEPIDLE = 2|TCP_KEEPINTVL = 1|TCP_KEEPCNT = 4|"
                     "TCP_MAXRT = 6");
    QTest::newRow("Windows 1709+: off writes a fresh socket's TCP_MAXRT")
            << windowsLike() << settings(false, 10s, 2s, 3, 0ms)
            << lines("SO_KEEPALIVE = 0|TCP_KEEPIDLE = 10|TCP_KEEPINTVL = 2|TCP_KEEPCNT = 3|"
                     "TCP_MAXRT = 21");
    QTest::newRow("Windows SIO: both times in ms in one call, no count")
            << windowsSioLike() << settings(true, 1500ms, 700ms, 3, 5500ms)
            << lines("SO_KEEPALIVE = 1|SIO_KEEPALIVE_VALS = {on, 1500 ms, 700 ms}|TCP_MAXRT = 6");
    QTest::newRow("Wine: SIO_KEEPALIVE_VALS, automatic user timeout not applied, not refused")
            << wineLike() << settings(true, 1500ms, 700ms, 3, 5500ms)
            << lines("SO_KEEPALIVE = 1|SIO_KEEPALIVE_VALS = {on, 1500 ms, 700 ms}");
    QTest::newRow("Wine: user timeout off is no refusal")
            << wineLike() << settings(true, 1500ms, 700ms, 3, 0ms, true)
            << lines("SO_KEEPALIVE = 1|SIO_KEEPALIVE_VALS = {on, 1500 ms, 700 ms}");
    QTest::newRow("Wine: explicit user timeout refused without a call")
            << wineLike() << settings(true, 1s, 1s, 3, 5s, true)
            << lines("SO_KEEPALIVE = 1|SIO_KEEPALIVE_VALS = {on, 1000 ms, 1000 ms}|"
                     "user timeout = 5000 ms refused: this Windows refuses TCP_MAXRT "
                     "(WSAENOPROTOOPT)");
    QTest::newRow("Windows SIO: skipped while off; off unknown is refused")
            << windowsSioLike() << settings(false, 1500ms, 700ms, 3, 0ms)
            << lines("SO_KEEPALIVE = 0|"
                     "TCP_MAXRT = system default refused: the default is unknown "
                     "(a new socket's TCP_MAXRT was unreadable)");
}

void tst_PlatformCore::plan()
{
    QFETCH(Core::Profile, profile);
    QFETCH(Core::Settings, settings);
    QFETCH(QStringList, expected);

    const Core::Plan plan = Core::plan(settings, profile);
    QCOMPARE(render(plan), expected);
    checkWiring(plan, profile);
}

void tst_PlatformCore::planUserTimeout_data()
{
    QTest::addColumn<Core::Profile>("profile");
    QTest::addColumn<milliseconds>("timeout");
    QTest::addColumn<QStringList>("expected");

    QTest::newRow("Linux") << linuxLike() << milliseconds(4500ms)
                           << lines("TCP_USER_TIMEOUT = 4500");
    QTest::newRow("Linux off") << linuxLike() << milliseconds(0ms) << lines("TCP_USER_TIMEOUT = 0");
    QTest::newRow("macOS") << macOSLike() << milliseconds(4500ms)
                           << lines("TCP_RXT_CONNDROPTIME = 5");
    QTest::newRow("FreeBSD") << freeBSDLike() << milliseconds(4500ms)
                             << lines("user timeout = 4500 ms refused: no TCP_USER_TIMEOUT");
    QTest::newRow("FreeBSD off") << freeBSDLike() << milliseconds(0ms) << QStringList();
    QTest::newRow("Wine off") << wineLike() << milliseconds(0ms) << QStringList();
    QTest::newRow("Wine") << wineLike() << milliseconds(4500ms)
                          << lines("user timeout = 4500 ms refused: this Windows refuses "
                                   "TCP_MAXRT (WSAENOPROTOOPT)");
    QTest::newRow("Windows SIO off")
            << windowsSioLike() << milliseconds(0ms)
            << lines("TCP_MAXRT = system default refused: the default is unknown "
                     "(a new socket's TCP_MAXRT was unreadable)");
}

void tst_PlatformCore::planUserTimeout()
{
    QFETCH(Core::Profile, profile);
    QFETCH(milliseconds, timeout);
    QFETCH(QStringList, expected);

    const Core::Plan plan = Core::planUserTimeout(timeout, profile);
    QCOMPARE(render(plan), expected);
    checkWiring(plan, profile);
}

void tst_PlatformCore::planForRunningPlatform()
{
    const Core::Profile &running = Core::profile();
    const Core::Settings chosen = settings(true, 1500ms, 2s, 3, 7500ms, true);
    const Core::Plan plan = Core::plan(chosen, running);
    checkWiring(plan, running);
    QCOMPARE(QByteArray(plan.front().name), QByteArray("SO_KEEPALIVE"));
#if defined(Q_OS_LINUX)
    // The real table, from the system headers, is the one written out above.
    const Core::Profile expected = linuxLike();
    QCOMPARE(render(plan), render(Core::plan(chosen, expected)));
    for (Field field :
         {Field::Enabled, Field::Idle, Field::Interval, Field::ProbeCount, Field::UserTimeout}) {
        const Core::SocketOption &real = optionFor(running.options, field);
        const Core::SocketOption &written = optionFor(expected.options, field);
        QCOMPARE(QByteArray(real.name), QByteArray(written.name));
        QCOMPARE(real.level, written.level);
        QCOMPARE(real.option, written.option);
        QCOMPARE(real.unit, written.unit);
    }
    QCOMPARE(running.limits.idle.maximum, 32767s);
    QCOMPARE(running.limits.maximumProbeCount, 127);
    QCOMPARE(running.limits.userTimeout.granularity, 1ms);
#else
    // Idle rounds up to the platform's granularity, never down.
    const auto idle = std::find_if(plan.begin(), plan.end(), [](const Step &step) {
        return Core::contains(step.fields, Field::Idle);
    });
    QVERIFY(idle != plan.end());
    QVERIFY(idle->value > 0);
#endif
}

void tst_PlatformCore::fields_data()
{
    QTest::addColumn<Core::Profile>("profile");
    QTest::addColumn<uint>("supported");
    QTest::addColumn<uint>("readable");

    const uint all = Core::AllFields;
    const uint noUserTimeout = all & ~uint(Field::UserTimeout);
    QTest::newRow("Linux") << linuxLike() << all << all;
    QTest::newRow("macOS") << macOSLike() << all << all;
    QTest::newRow("FreeBSD") << freeBSDLike() << noUserTimeout << noUserTimeout;
    QTest::newRow("FreeBSD 14") << freeBSD14Like() << all << all;
    QTest::newRow("Windows 1709+") << windowsLike() << all << all;
    // SIO_KEEPALIVE_VALS is write-only; TCP_MAXRT was unreadable on a fresh socket.
    QTest::newRow("Windows SIO") << windowsSioLike()
                                 << uint(Field::Enabled | Field::Idle | Field::Interval
                                         | Field::UserTimeout)
                                 << uint(Field::Enabled);
    // TCP_MAXRT refused as well: neither set nor claimed.
    QTest::newRow("Wine") << wineLike() << uint(Field::Enabled | Field::Idle | Field::Interval)
                          << uint(Field::Enabled);
}

void tst_PlatformCore::fields()
{
    QFETCH(Core::Profile, profile);
    QFETCH(uint, supported);
    QFETCH(uint, readable);

    QCOMPARE(Core::supportedFields(profile.options), supported);
    QCOMPARE(Core::readableFields(profile.options), readable);
}

void tst_PlatformCore::windowsLimits()
{
    // Per-socket options: whole seconds, TCP_KEEPCNT up to 255, no fixed count.
    const Core::Limits perSocket = windowsLike().limits;
    QCOMPARE(perSocket.idle.granularity, 1s);
    QCOMPARE(perSocket.interval.granularity, 1s);
    QCOMPARE(perSocket.maximumProbeCount, 255);
    QCOMPARE(perSocket.fixedProbeCount, 0);
    // SIO_KEEPALIVE_VALS: ULONG milliseconds; Vista and later send 10 probes
    // whatever the count asked for, and the bound is computed with those.
    for (const Core::Profile &sio : {windowsSioLike(), wineLike()}) {
        QCOMPARE(sio.limits.idle.granularity, 1ms);
        QCOMPARE(sio.limits.idle.maximum, milliseconds(0xFFFFFFFFLL));
        QCOMPARE(sio.limits.interval.granularity, 1ms);
        QCOMPARE(sio.limits.fixedProbeCount, 10);
        QVERIFY(!sio.options.probeCount.name);
        QVERIFY(sio.options.keepAliveValues);
    }
    // Under Wine the host kernel's count stays in force (Linux: 9 by default).
    Core::WindowsSupport wine;
    wine.maxRtError = 10042;
    wine.hostProbeCount = 9;
    QCOMPARE(Core::windowsProfile(wine).limits.fixedProbeCount, 9);
    // TCP_MAXRT takes whole seconds where it is accepted.
    QCOMPARE(windowsLike().limits.userTimeout.granularity, 1s);
    QCOMPARE(QByteArray(windowsLike().options.userTimeout.name), QByteArray("TCP_MAXRT"));
    QVERIFY(!wineLike().options.userTimeout.name);
    // A fresh socket's TCP_MAXRT is what "off" writes back.
    QCOMPARE(windowsLike().options.userTimeoutOff.value_or(-1), 21);
    QCOMPARE(windowsLike().options.userTimeoutForever.value_or(-1), 0xFFFFFFFFLL);
}

void tst_PlatformCore::roundUp_data()
{
    QTest::addColumn<milliseconds>("value");
    QTest::addColumn<Core::DurationLimit>("limit");
    QTest::addColumn<milliseconds>("expected");

    const Core::DurationLimit seconds{1ms, 32767s, 1s};
    const Core::DurationLimit millis{1ms, 32767s, 1ms};
    QTest::newRow("1500 ms to 2 s") << milliseconds(1500ms) << seconds << milliseconds(2s);
    QTest::newRow("1 ms to 1 s, never 0") << milliseconds(1ms) << seconds << milliseconds(1s);
    QTest::newRow("whole seconds stay") << milliseconds(3s) << seconds << milliseconds(3s);
    QTest::newRow("1001 ms to 2 s") << milliseconds(1001ms) << seconds << milliseconds(2s);
    QTest::newRow("0 stays 0") << milliseconds(0ms) << seconds << milliseconds(0ms);
    QTest::newRow("negative stays") << milliseconds(-1500ms) << seconds << milliseconds(-1500ms);
    QTest::newRow("ms granularity") << milliseconds(1500ms) << millis << milliseconds(1500ms);
    QTest::newRow("saturates") << milliseconds(milliseconds::max() - 1ms) << seconds
                               << milliseconds::max();
}

void tst_PlatformCore::roundUp()
{
    QFETCH(milliseconds, value);
    QFETCH(Core::DurationLimit, limit);
    QFETCH(milliseconds, expected);

    QCOMPARE(Core::roundUp(value, limit), expected);
}

void tst_PlatformCore::osErrorFromCode_data()
{
    QTest::addColumn<int>("code");
    QTest::addColumn<OsError>("expected");

    QTest::newRow("no error") << 0 << OsError::None;
#if defined(Q_OS_WIN)
    QTest::newRow("WSAETIMEDOUT") << int(WSAETIMEDOUT) << OsError::TimedOut;
    QTest::newRow("WSAENETRESET: keepalive failure") << int(WSAENETRESET) << OsError::TimedOut;
    QTest::newRow("WSAECONNABORTED: TCP_MAXRT") << int(WSAECONNABORTED) << OsError::TimedOut;
    QTest::newRow("WSAECONNRESET") << int(WSAECONNRESET) << OsError::Reset;
    QTest::newRow("WSAEHOSTUNREACH") << int(WSAEHOSTUNREACH) << OsError::HostUnreachable;
    QTest::newRow("WSAENETDOWN") << int(WSAENETDOWN) << OsError::NetworkUnreachable;
    QTest::newRow("WSAEINVAL") << int(WSAEINVAL) << OsError::Other;
#else
    QTest::newRow("ETIMEDOUT") << ETIMEDOUT << OsError::TimedOut;
    QTest::newRow("ECONNRESET") << ECONNRESET << OsError::Reset;
    QTest::newRow("EPIPE: a RST after the peer's FIN") << EPIPE << OsError::PeerClosed;
    QTest::newRow("EHOSTUNREACH") << EHOSTUNREACH << OsError::HostUnreachable;
    QTest::newRow("EHOSTDOWN") << EHOSTDOWN << OsError::HostUnreachable;
#  if defined(ENONET)
    QTest::newRow("ENONET") << ENONET << OsError::HostUnreachable;
#  endif
    QTest::newRow("ENETUNREACH") << ENETUNREACH << OsError::NetworkUnreachable;
    QTest::newRow("ENETDOWN") << ENETDOWN << OsError::NetworkUnreachable;
    QTest::newRow("EINVAL") << EINVAL << OsError::Other;
    QTest::newRow("EBADF") << EBADF << OsError::Other;
#endif
}

void tst_PlatformCore::osErrorFromCode()
{
    QFETCH(int, code);
    QFETCH(OsError, expected);

    QCOMPARE(Core::osErrorFromCode(code), expected);
}

void tst_PlatformCore::lastError()
{
    Core::clearLastError();
    QCOMPARE(Core::lastError(), OsError::None);
#if defined(Q_OS_WIN)
    // Not WSAGetLastError(), which Qt's way from a failed recv() to
    // errorOccurred() clears: only what hasPendingError() recorded before
    // the read (tests/windows/tst_windowscore.cpp checks that path).
    ::WSASetLastError(WSAECONNRESET);
    QCOMPARE(Core::lastError(), OsError::None);
#else
    errno = ECONNRESET;
    QCOMPARE(Core::lastError(), OsError::Reset);
#endif
    Core::clearLastError();
    QCOMPARE(Core::lastError(), OsError::None);
}

void tst_PlatformCore::messages()
{
#if defined(Q_OS_WIN)
    const int invalid = WSAEINVAL;
    QVERIFY(qString(Core::errorText(invalid)).endsWith(QLatin1String(" (WSA error 10022)")));
#else
    const int invalid = EINVAL;
    QCOMPARE(qString(Core::errorText(invalid)), QString::fromLocal8Bit(std::strerror(EINVAL)));
#endif
    const QString invalidText = qString(Core::errorText(invalid));
    QVERIFY(!invalidText.isEmpty());

    Step idle;
    idle.fields = Core::Fields(Field::Idle);
    idle.name = "TCP_KEEPIDLE";
    idle.value = 0;
    Step values;
    values.action = Step::Action::SetKeepAliveValues;
    values.fields = Field::Idle | Field::Interval;
    values.name = "SIO_KEEPALIVE_VALS";
    values.value = 1500;
    values.interval = 700;
    Core::ApplyResult result;
    QCOMPARE(qString(Core::message(result)), QString());
    result.refusals = {{idle, invalid}, {values, invalid}};
    QCOMPARE(qString(Core::describe(result.refusals.front())),
             QLatin1String("TCP_KEEPIDLE = 0 refused: ") + invalidText);
    QCOMPARE(qString(Core::message(result)),
             QLatin1String("TCP_KEEPIDLE = 0 refused: ") + invalidText
                     + QLatin1String("; SIO_KEEPALIVE_VALS = {on, 1500 ms, 700 ms} refused: ")
                     + invalidText);
}

void tst_PlatformCore::applyAndReadBack()
{
    Connection connection;
    QVERIFY(connection.open());
    const Core::NativeHandle handle = connection.handle();
    const Core::Profile &running = Core::profile();
    const Core::Fields readable = Core::readableFields(running.options);

    const Core::Settings chosen = settings(true, 1500ms, 2s, 3, 7s, true);
    const Core::ApplyResult result = Core::apply(handle, Core::plan(chosen, running));
    const Core::Fields supported = Core::supportedFields(running.options);
    QVERIFY2((result.refused & supported) == 0, Core::message(result).c_str());

    const Core::ReadBack read = Core::readBack(handle);
    QCOMPARE(read.enabled.has_value(), Core::contains(readable, Field::Enabled));
    if (read.enabled)
        QCOMPARE(*read.enabled, true);
    if (read.idle)
        QCOMPARE(*read.idle, Core::roundUp(1500ms, running.limits.idle));
    if (read.interval)
        QCOMPARE(*read.interval, 2s);
    if (read.probeCount)
        QCOMPARE(*read.probeCount, 3);
    if (read.userTimeout)
        QCOMPARE(*read.userTimeout, Core::roundUp(7s, running.limits.userTimeout));

    // The slow-reader guard's call: off reads back as 0 ("no bound").
    QVERIFY(Core::setUserTimeout(handle, 0ms));
    if (Core::readBack(handle).userTimeout)
        QCOMPARE(*Core::readBack(handle).userTimeout, 0ms);

    QVERIFY(!Core::hasPendingError(handle));
    QCOMPARE(Core::takePendingError(handle), OsError::None);
#if defined(Q_OS_LINUX) || defined(Q_OS_DARWIN) || defined(Q_OS_FREEBSD)
    QCOMPARE(Core::health(handle).state, Core::TcpState::Established);
#endif
}

void tst_PlatformCore::refusedByTheKernel()
{
#if defined(Q_OS_LINUX)
    Connection connection;
    QVERIFY(connection.open());
    // Unvalidated values reach the kernel: every field is attempted, each refusal kept.
    const Core::Settings invalid = settings(true, 0ms, 2s, 1000, 0ms);
    const Core::ApplyResult result =
            Core::apply(connection.handle(), Core::plan(invalid, linuxLike()));
    QCOMPARE(result.refused, Field::Idle | Field::ProbeCount);
    QCOMPARE(result.refusals.size(), size_t(2));
    QCOMPARE(result.refusals.front().error, EINVAL);
    const QString text = qString(Core::errorText(EINVAL));
    QCOMPARE(qString(Core::message(result)),
             QLatin1String("TCP_KEEPIDLE = 0 refused: ") + text
                     + QLatin1String("; TCP_KEEPCNT = 1000 refused: ") + text);
#else
    QSKIP("Linux limits");
#endif
}

void tst_PlatformCore::readBackOffValues()
{
#if defined(Q_OS_LINUX)
    Connection connection;
    QVERIFY(connection.open());
    QVERIFY(Core::setUserTimeout(connection.handle(), 5000ms));
    Core::OptionTable options = linuxLike().options;
    QCOMPARE(Core::readBack(connection.handle(), options).userTimeout.value_or(-1ms), 5000ms);
    // An "off" that is a value (Windows: a fresh socket's TCP_MAXRT) is the
    // system's bound: an explicit bound equal to it reads back as itself.
    options.userTimeoutOff = 5000;
    QCOMPARE(Core::readBack(connection.handle(), options).userTimeout.value_or(-1ms), 5000ms);
    // "Forever" (Windows: 0xFFFFFFFF) reads as no bound.
    options.userTimeoutOff = 0;
    options.userTimeoutForever = 5000;
    QCOMPARE(Core::readBack(connection.handle(), options).userTimeout.value_or(-1ms), 0ms);
    // Options the table does not name stay unknown.
    options.probeCount = {};
    QVERIFY(!Core::readBack(connection.handle(), options).probeCount);
#else
    QSKIP("Linux option numbers");
#endif
}

void tst_PlatformCore::noConnection()
{
    const Core::Health health = Core::health(-1);
    QCOMPARE(health.state, Core::TcpState::Unknown);
    QVERIFY(!health.rtt);
    const Core::ReadBack read = Core::readBack(-1);
    QVERIFY(!read.enabled && !read.idle && !read.interval && !read.probeCount && !read.userTimeout);
}

void tst_PlatformCore::classifyDescriptor_data()
{
    QTest::addColumn<Core::DescriptorKind>("kind");
    QTest::addColumn<QString>("what"); // describe() after "descriptor <n> "

    using Kind = Core::DescriptorKind;
    const QString notConnected = QStringLiteral("is a TCP socket that is not connected");
    QTest::newRow("connected TCP, accepted end") << Kind::TcpConnection << QString();
    QTest::newRow("connected TCP, connecting end") << Kind::TcpConnection << QString();
    // Its end is Qt's to report (RemoteHostClosedError); no dead peer either way.
    QTest::newRow("TCP closed by the peer (FIN)") << Kind::TcpConnection << QString();
    // getpeername() fails (ENOTCONN), but the error still pending makes it a
    // connection whose death is reported.
    QTest::newRow("TCP reset by the peer before adoption") << Kind::TcpConnection << QString();
    QTest::newRow("listening TCP")
            << Kind::Listening
            << QStringLiteral("is a listening TCP socket, not a connected TCP socket");
    QTest::newRow("unconnected TCP") << Kind::Unconnected << notConnected;
    QTest::newRow("bound TCP, not listening") << Kind::Unconnected << notConnected;
    QTest::newRow("unconnected IPv6 TCP") << Kind::Unconnected << notConnected;
    const QString udp = QStringLiteral("is a UDP socket, not a TCP socket");
    QTest::newRow("bound UDP") << Kind::Udp << udp;
    QTest::newRow("connected UDP") << Kind::Udp << udp;
    const QString local = QStringLiteral("is a UNIX-domain socket, not a TCP socket");
    QTest::newRow("UNIX stream socketpair") << Kind::Local << local;
    QTest::newRow("UNIX datagram socketpair") << Kind::Local << local;
#if defined(Q_OS_LINUX)
    QTest::newRow("netlink socket")
            << Kind::Other
            << QStringLiteral("is a socket that is neither TCP, UDP nor UNIX-domain");
#endif
    QTest::newRow("pipe") << Kind::NotASocket << QStringLiteral("is not a socket");
    QTest::newRow("device (/dev/null)") << Kind::NotASocket << QStringLiteral("is not a socket");
}

void tst_PlatformCore::classifyDescriptor()
{
#if defined(Q_OS_WIN)
    QSKIP("POSIX descriptors; tests/windows/tst_windowscore.cpp checks Windows");
#else
    QFETCH(Core::DescriptorKind, kind);
    QFETCH(QString, what);

    OwnedDescriptors own;
    const int fd = makeDescriptor(QTest::currentDataTag(), own);
    QVERIFY2(fd >= 0, std::strerror(errno));
    QCOMPARE(Core::classifyDescriptor(fd), kind);
    const QString expected =
            what.isEmpty() ? what : QStringLiteral("descriptor %1 %2").arg(fd).arg(what);
    QCOMPARE(qString(Core::describe(fd, kind)), expected);
#endif
}

void tst_PlatformCore::classifyInvalidDescriptor()
{
    QCOMPARE(Core::classifyDescriptor(-1), Core::DescriptorKind::Invalid);
    QCOMPARE(qString(Core::describe(-1, Core::DescriptorKind::Invalid)),
             QLatin1String("descriptor -1 is not an open descriptor"));
#if !defined(Q_OS_WIN)
    int closed = -1;
    {
        OwnedDescriptors own;
        closed = own.own(::socket(AF_INET, SOCK_STREAM, 0));
        QVERIFY(closed >= 0);
    }
    QCOMPARE(Core::classifyDescriptor(closed), Core::DescriptorKind::Invalid);
#endif
}

QTEST_GUILESS_MAIN(tst_PlatformCore)
#include "tst_platformcore.moc"
