// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveSocket::setSocketDescriptor() with descriptors that are not a
// connected TCP socket. Each row makes two equivalent descriptors, one for a
// plain QTcpSocket and one for a KeepAliveSocket, and checks that the
// KeepAliveSocket adopts or refuses it exactly as the QTcpSocket does, that
// keepalive is never applied to it (read with this test's own getsockopt()),
// that keepAliveError() names what it is, and that no deadPeer() follows,
// also once the socket meets what made the library report one before (a
// client connecting to an adopted listener). Connected TCP sockets are the
// control: options applied, a reset reported. Every descriptor the test
// makes is closed by the test, except those a socket adopted.

#include <KeepAliveSocket>

#include <QtCore/QByteArrayList>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QtTest>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;

using KeepAliveError = KeepAliveSocket::KeepAliveError;

namespace {

// Generous: the machine is shared and the test may run under sanitizers.
constexpr int Timeout = 20000;
// How long a socket is watched for a deadPeer() after what would provoke one.
constexpr int Quiet = 2000;

const KeepAliveOptions chosen = KeepAliveOptions().setIdle(1s).setInterval(1s).setProbeCount(2);
const KeepAliveOptions later = KeepAliveOptions().setIdle(3s).setInterval(1s).setProbeCount(2);

// The keepalive options of a descriptor as the kernel reports them; -1 where it refuses.
struct KernelKeepAlive
{
    int keepAlive = -1; // SO_KEEPALIVE
    int idle = -1;      // TCP_KEEPIDLE, s

    friend bool operator==(const KernelKeepAlive &a, const KernelKeepAlive &b)
    {
        return a.keepAlive == b.keepAlive && a.idle == b.idle;
    }
};

char *toString(const KernelKeepAlive &k)
{
    return qstrdup(QByteArray("SO_KEEPALIVE " + QByteArray::number(k.keepAlive) + ", TCP_KEEPIDLE "
                              + QByteArray::number(k.idle))
                           .constData());
}

int kernelOption(int fd, int level, int option)
{
    int value = 0;
    socklen_t length = sizeof value;
    return ::getsockopt(fd, level, option, &value, &length) == 0 ? value : -1;
}

KernelKeepAlive kernel(int fd)
{
    return {kernelOption(fd, SOL_SOCKET, SO_KEEPALIVE), kernelOption(fd, IPPROTO_TCP, TCP_KEEPIDLE)};
}

sockaddr_in loopback()
{
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// A row's descriptor and the test's own ends of it.
class Fixture
{
public:
    Fixture() = default;
    Fixture(const Fixture &) = delete;
    Fixture &operator=(const Fixture &) = delete;
    ~Fixture()
    {
        closeOwned(peer);
        closeOwned(listener);
        if (ownsFd)
            closeOwned(fd);
    }

    //! Makes the descriptor the row \a kind names; false with the reason in errno.
    bool make(const QByteArray &kind);
    //! Does to the descriptor's other end what the row does once the socket has it.
    bool provoke(const QByteArray &kind);
    //! A socket took the descriptor: it closes it from now on.
    void adopted() { ownsFd = false; }

    int fd = -1;           //!< handed to setSocketDescriptor()
    bool ownsFd = false;   //!< the test still has to close fd
    int peer = -1;         //!< the test's end: the TCP peer, the other socketpair or pipe end
    int listener = -1;     //!< the listener a control connection was accepted from
    sockaddr_in address{}; //!< where fd listens or receives (listening TCP, UDP)

private:
    static void closeOwned(int &descriptor)
    {
        if (descriptor >= 0)
            ::close(descriptor);
        descriptor = -1;
    }
    bool bound(int type);
    bool connectedTcp();
};

bool Fixture::bound(int type)
{
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    ownsFd = fd >= 0;
    address = loopback();
    socklen_t length = sizeof address;
    return fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr *>(&address), length) == 0
            && ::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0;
}

bool Fixture::connectedTcp()
{
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at = loopback();
    socklen_t length = sizeof at;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr *>(&at), length) != 0
        || ::getsockname(listener, reinterpret_cast<sockaddr *>(&at), &length) != 0
        || ::listen(listener, 1) != 0)
        return false;
    peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (peer < 0 || ::connect(peer, reinterpret_cast<sockaddr *>(&at), length) != 0)
        return false;
    fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ownsFd = fd >= 0;
    return ownsFd;
}

// The peer's close with SO_LINGER {1, 0} sends a RST.
bool resetPeer(int *peer)
{
    const linger reset{1, 0};
    if (::setsockopt(*peer, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) != 0)
        return false;
    ::close(std::exchange(*peer, -1));
    return true;
}

bool Fixture::make(const QByteArray &kind)
{
    if (kind == "listening TCP")
        return bound(SOCK_STREAM) && ::listen(fd, 4) == 0;
    if (kind == "bound UDP")
        return bound(SOCK_DGRAM);
    if (kind == "connected UDP") {
        // The peer first, bound where fd sends; then fd, bound and connected to it.
        peer = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in at = loopback();
        socklen_t length = sizeof at;
        return peer >= 0 && ::bind(peer, reinterpret_cast<sockaddr *>(&at), length) == 0
                && ::getsockname(peer, reinterpret_cast<sockaddr *>(&at), &length) == 0
                && bound(SOCK_DGRAM)
                && ::connect(fd, reinterpret_cast<sockaddr *>(&at), length) == 0;
    }
    if (kind == "UNIX stream socketpair") {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            return false;
        fd = pair[0];
        ownsFd = true;
        peer = pair[1];
        return true;
    }
    if (kind == "pipe") {
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0)
            return false;
        fd = ends[0];
        ownsFd = true;
        peer = ends[1];
        return true;
    }
    if (kind == "closed descriptor") {
        // Closed at once: the number stays free while no other descriptor is made.
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return false;
        ::close(fd);
        return true;
    }
    if (kind == "-1")
        return true;
    if (kind == "unconnected TCP") {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ownsFd = fd >= 0;
        return ownsFd;
    }
    if (kind == "connected TCP (control)")
        return connectedTcp();
    if (kind == "TCP reset before adoption (control)") {
        if (!connectedTcp() || !resetPeer(&peer))
            return false;
        // The RST has arrived once the accepted end shows the error.
        pollfd entry{fd, POLLIN, 0};
        return ::poll(&entry, 1, Timeout) == 1 && (entry.revents & POLLERR);
    }
    errno = EINVAL;
    return false;
}

bool Fixture::provoke(const QByteArray &kind)
{
    if (kind == "listening TCP") {
        // A client in the backlog makes the listener readable: Qt's read of it
        // fails with ENOTCONN, which the library used to report as a dead peer.
        peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return peer >= 0
                && ::connect(peer, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
    }
    if (kind == "bound UDP" || kind == "connected UDP") {
        if (peer < 0)
            peer = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const auto *to = reinterpret_cast<const sockaddr *>(&address);
        return peer >= 0 && ::sendto(peer, "ping", 4, 0, to, sizeof address) == 4;
    }
    if (kind == "UNIX stream socketpair" || kind == "pipe") {
        // Then the end of the stream: Qt reports RemoteHostClosedError.
        if (::write(peer, "ping", 4) != 4)
            return false;
        ::close(std::exchange(peer, -1));
        return true;
    }
    if (kind == "connected TCP (control)")
        return resetPeer(&peer);
    // Nothing to do: Qt meets the unconnected socket's hang-up by itself; the
    // reset arrived before the adoption; the others are not open.
    return true;
}

// What a socket's user sees: signals in order, and the bytes read.
struct Observed
{
    QStringList events;
    QStringList errorStrings;
    QByteArray received;

    void watch(QAbstractSocket *socket)
    {
        QObject::connect(socket, &QAbstractSocket::errorOccurred, socket,
                         [this, socket](QAbstractSocket::SocketError error) {
                             events << QStringLiteral("errorOccurred(%1)").arg(int(error));
                             errorStrings << socket->errorString();
                         });
        QObject::connect(socket, &QAbstractSocket::stateChanged, socket,
                         [this](QAbstractSocket::SocketState state) {
                             events << QStringLiteral("stateChanged(%1)").arg(int(state));
                         });
        QObject::connect(socket, &QAbstractSocket::disconnected, socket,
                         [this] { events << QStringLiteral("disconnected"); });
        QObject::connect(socket, &QIODevice::readyRead, socket,
                         [this, socket] { received += socket->readAll(); });
    }
};

} // namespace

class tst_Adoption : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void adopt_data();
    void adopt();
};

void tst_Adoption::adopt_data()
{
    QTest::addColumn<bool>("tcpConnection");
    QTest::addColumn<QString>("what"); // keepAliveErrorString() after "descriptor <n> "

    const QString notTcp = QStringLiteral(", not a TCP socket");
    QTest::newRow("listening TCP")
            << false << QStringLiteral("is a listening TCP socket, not a connected TCP socket");
    QTest::newRow("bound UDP") << false << QStringLiteral("is a UDP socket") + notTcp;
    QTest::newRow("connected UDP") << false << QStringLiteral("is a UDP socket") + notTcp;
    QTest::newRow("UNIX stream socketpair")
            << false << QStringLiteral("is a UNIX-domain socket") + notTcp;
    QTest::newRow("pipe") << false << QStringLiteral("is not a socket");
    QTest::newRow("closed descriptor") << false << QStringLiteral("is not an open descriptor");
    QTest::newRow("-1") << false << QStringLiteral("is not an open descriptor");
    QTest::newRow("unconnected TCP")
            << false << QStringLiteral("is a TCP socket that is not connected");
    QTest::newRow("connected TCP (control)") << true << QString();
    // No peer any more (getpeername() fails), but still a connection whose death is reported.
    QTest::newRow("TCP reset before adoption (control)") << true << QString();
}

void tst_Adoption::adopt()
{
    QFETCH(bool, tcpConnection);
    QFETCH(QString, what);
    const QByteArray kind = QTest::currentDataTag();

    Observed plainSeen;
    Observed seen;
    QTcpSocket plain;
    KeepAliveSocket socket;
    plainSeen.watch(&plain);
    seen.watch(&socket);
    QVERIFY(socket.setKeepAliveOptions(chosen));
    QSignalSpy deadPeers(&socket, &KeepAliveSocket::deadPeer);
    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);

    Fixture plainFixture;
    Fixture fixture;
    QVERIFY2(plainFixture.make(kind), std::strerror(errno));
    QVERIFY2(fixture.make(kind), std::strerror(errno));
    // Only a descriptor the test still holds open is looked at.
    const bool inspectable = fixture.ownsFd;
    const KernelKeepAlive before = inspectable ? kernel(fixture.fd) : KernelKeepAlive{};

    const bool plainAdopted = plain.setSocketDescriptor(plainFixture.fd);
    if (plainAdopted)
        plainFixture.adopted();
    const bool adopted = socket.setSocketDescriptor(fixture.fd);
    if (adopted)
        fixture.adopted();
    QCOMPARE(adopted, plainAdopted);
    QCOMPARE(socket.state(), plain.state());
    QCOMPARE(socket.error(), plain.error());
    QCOMPARE(socket.errorString(), plain.errorString());
    QVERIFY(socket.deadPeerReason() == KeepAliveSocket::DeadPeerReason::None);

    if (tcpConnection) {
        QVERIFY(socket.keepAliveError() != KeepAliveError::UnsupportedSocket);
        if (kind == "connected TCP (control)") {
            QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
            QCOMPARE(kernel(fixture.fd), (KernelKeepAlive{1, 1}));
            QVERIFY(socket.setKeepAliveOptions(later));
            QCOMPARE(kernel(fixture.fd), (KernelKeepAlive{1, 3}));
        }
    } else {
        QCOMPARE(socket.keepAliveError(), KeepAliveError::UnsupportedSocket);
        const QString message = QStringLiteral("keepalive is not applied: descriptor %1 %2");
        QCOMPARE(socket.keepAliveErrorString(), message.arg(fixture.fd).arg(what));
        QCOMPARE(keepAliveErrors.count(), 1);
        // Nothing read from the kernel, nothing invented.
        QVERIFY(socket.effectiveKeepAliveOptions().isEmpty());
        QVERIFY(!socket.connectionHealth().isValid());
        if (inspectable) {
            QCOMPARE(kernel(fixture.fd), before);
            if (kind == "listening TCP")
                QCOMPARE(before.keepAlive, 0);
        }
        // Options set later are stored for the next connection, never applied to this one.
        if (adopted) {
            QVERIFY(!socket.setKeepAliveOptions(later));
            QCOMPARE(socket.keepAliveOptions(), later);
            QCOMPARE(socket.keepAliveError(), KeepAliveError::UnsupportedSocket);
            QCOMPARE(keepAliveErrors.count(), 1);
            if (inspectable && socket.state() == QAbstractSocket::ConnectedState)
                QCOMPARE(kernel(fixture.fd), before);
        }
    }

    QVERIFY2(plainFixture.provoke(kind), std::strerror(errno));
    QVERIFY2(fixture.provoke(kind), std::strerror(errno));
    if (tcpConnection) {
        QTRY_COMPARE_WITH_TIMEOUT(deadPeers.count(), 1, Timeout);
        QCOMPARE(deadPeers.at(0).at(0).value<KeepAliveSocket::DeadPeerReason>(),
                 KeepAliveSocket::DeadPeerReason::ConnectionReset);
        QTRY_COMPARE_WITH_TIMEOUT(plain.state(), QAbstractSocket::UnconnectedState, Timeout);
        QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, Timeout);
    } else {
        QTest::qWait(Quiet);
        QCOMPARE(deadPeers.count(), 0);
        QVERIFY(socket.deadPeerReason() == KeepAliveSocket::DeadPeerReason::None);
        QCOMPARE(socket.keepAliveError(), KeepAliveError::UnsupportedSocket);
        QCOMPARE(keepAliveErrors.count(), 1);
        // Qt's own errorString(): the library's dead-peer message never replaced it.
        QCOMPARE(seen.errorStrings, plainSeen.errorStrings);
        QCOMPARE(socket.errorString(), plain.errorString());
    }
    QCOMPARE(seen.events, plainSeen.events);
    QCOMPARE(seen.received, plainSeen.received);
    QCOMPARE(socket.state(), plain.state());
    QCOMPARE(socket.error(), plain.error());
}

QTEST_GUILESS_MAIN(tst_Adoption)
#include "tst_adoption.moc"
