// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveSocket against real connections on 127.0.0.1. What the kernel
// holds is always checked with this test's own getsockopt() calls on the
// descriptor, never through the library's read-back.

#include <KeepAliveSocket>

#include <QtCore/QCryptographicHash>
#include <QtCore/QMetaEnum>
#include <QtCore/QMetaProperty>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QScopeGuard>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QtTest>

#include <cerrno>
#include <chrono>
#include <climits>
#include <memory>
#include <optional>
#include <type_traits>

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono;
using namespace std::chrono_literals;

using Mode = KeepAliveOptions::UserTimeoutMode;
using Field = KeepAliveOptions::Field;
using Fields = KeepAliveOptions::Fields;
using KeepAliveError = KeepAliveSocket::KeepAliveError;

// KeepAliveSocket must not hide QAbstractSocket's error reporting with
// members of the same name: both names resolve to Qt's own members.
static_assert(std::is_same_v<decltype(&KeepAliveSocket::error), decltype(&QAbstractSocket::error)>);
static_assert(std::is_same_v<decltype(&KeepAliveSocket::errorOccurred),
                             decltype(&QAbstractSocket::errorOccurred)>);
static_assert(std::is_base_of_v<QTcpSocket, KeepAliveSocket>);

namespace {

// Generous: the machine is shared and tests may run under sanitizers.
constexpr int Timeout = 20000;

const Fields allFields = Fields(Field::Enabled) | Field::Idle | Field::Interval | Field::ProbeCount
        | Field::UserTimeout;

// The keepalive state of a descriptor as the kernel reports it.
struct KernelKeepAlive
{
    int keepAlive = -1;   // SO_KEEPALIVE
    int idle = -1;        // TCP_KEEPIDLE, s
    int interval = -1;    // TCP_KEEPINTVL, s
    int count = -1;       // TCP_KEEPCNT
    int userTimeout = -1; // TCP_USER_TIMEOUT, ms

    friend bool operator==(const KernelKeepAlive &a, const KernelKeepAlive &b)
    {
        return a.keepAlive == b.keepAlive && a.idle == b.idle && a.interval == b.interval
                && a.count == b.count && a.userTimeout == b.userTimeout;
    }
};

QDebug operator<<(QDebug debug, const KernelKeepAlive &k)
{
    const QDebugStateSaver saver(debug);
    debug.nospace() << "SO_KEEPALIVE " << k.keepAlive << ", TCP_KEEPIDLE " << k.idle
                    << ", TCP_KEEPINTVL " << k.interval << ", TCP_KEEPCNT " << k.count
                    << ", TCP_USER_TIMEOUT " << k.userTimeout;
    return debug;
}

// -1 when the kernel refuses to report the option.
int kernelOption(qintptr descriptor, int level, int option)
{
    int value = 0;
    socklen_t length = sizeof value;
    if (::getsockopt(int(descriptor), level, option, &value, &length) != 0)
        return -1;
    return value;
}

KernelKeepAlive kernel(qintptr descriptor)
{
    return {kernelOption(descriptor, SOL_SOCKET, SO_KEEPALIVE),
            kernelOption(descriptor, IPPROTO_TCP, TCP_KEEPIDLE),
            kernelOption(descriptor, IPPROTO_TCP, TCP_KEEPINTVL),
            kernelOption(descriptor, IPPROTO_TCP, TCP_KEEPCNT),
            kernelOption(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT)};
}

KernelKeepAlive kernel(const QAbstractSocket &socket)
{
    return kernel(socket.socketDescriptor());
}

// Options read back by the library, in the kernel's units.
// A read-back in the kernel's own units; -1 for a field not read back.
KernelKeepAlive fromOptions(const EffectiveKeepAliveOptions &o)
{
    const auto secondsOf = [](const std::optional<milliseconds> &value) {
        return value ? int(duration_cast<seconds>(*value).count()) : -1;
    };
    return {o.enabled ? int(*o.enabled) : -1, secondsOf(o.idle), secondsOf(o.interval),
            o.probeCount.value_or(-1), o.userTimeout ? int(o.userTimeout->count()) : -1};
}

KeepAliveOptions chosenOptions()
{
    return KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);
}
const KernelKeepAlive chosenKernel{1, 10, 2, 3, 16000};

QByteArray randomBytes(qsizetype size, quint32 seed)
{
    QByteArray data(size, Qt::Uninitialized);
    QRandomGenerator generator(seed);
    for (char &c : data)
        c = char(generator.generate() & 0xff);
    return data;
}

QByteArray sha256(const QByteArray &data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

// Closes a raw descriptor the test still owns.
struct Descriptor
{
    int fd = -1;
    ~Descriptor()
    {
        if (fd >= 0)
            ::close(fd);
    }
    int release()
    {
        const int released = fd;
        fd = -1;
        return released;
    }
};

// A loopback TCP connection made with plain socket calls: the accepted end
// in \a ours, the connecting one in \a theirs.
bool tcpPair(Descriptor *ours, Descriptor *theirs)
{
    Descriptor listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    theirs->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener.fd < 0 || theirs->fd < 0
        || ::bind(listener.fd, reinterpret_cast<sockaddr *>(&address), length) != 0
        || ::getsockname(listener.fd, reinterpret_cast<sockaddr *>(&address), &length) != 0
        || ::listen(listener.fd, 1) != 0
        || ::connect(theirs->fd, reinterpret_cast<sockaddr *>(&address), length) != 0)
        return false;
    ours->fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    return ours->fd >= 0;
}

// Linux accepts every valid option on a TCP connection. For the refusal
// tests, setsockopt() (below) refuses every IPPROTO_TCP option on this
// descriptor with ENOPROTOOPT, as the kernel does for a socket that is not
// TCP; -1: none.
int g_refuseTcpOptionsOn = -1;

// Plain Qt code written for QTcpSocket: no knowledge of KeepAliveSocket.
// Connects, then sends `upload` while the peer sends `download`; both sides
// collect what arrives through readyRead(). Leaves the socket connected and
// hands over the accepted peer.
void exchangeThroughTcpSocket(QTcpSocket *socket, QTcpServer *server, const QByteArray &upload,
                              const QByteArray &download, std::unique_ptr<QTcpSocket> *peerOut)
{
    QByteArray received;
    QByteArray peerReceived;
    QObject context;
    QObject::connect(socket, &QTcpSocket::readyRead, &context,
                     [&] { received += socket->readAll(); });

    socket->connectToHost(QHostAddress::LocalHost, server->serverPort());
    QTRY_COMPARE_WITH_TIMEOUT(socket->state(), QAbstractSocket::ConnectedState, Timeout);
    QTRY_VERIFY_WITH_TIMEOUT(server->hasPendingConnections(), Timeout);
    std::unique_ptr<QTcpSocket> peer(server->nextPendingConnection());
    QVERIFY(peer);
    QObject::connect(peer.get(), &QTcpSocket::readyRead, &context,
                     [&] { peerReceived += peer->readAll(); });

    QCOMPARE(socket->write(upload), upload.size());
    QCOMPARE(peer->write(download), download.size());
    QTRY_COMPARE_WITH_TIMEOUT(peerReceived.size(), upload.size(), Timeout);
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), download.size(), Timeout);
    QCOMPARE(sha256(peerReceived), sha256(upload));
    QCOMPARE(sha256(received), sha256(download));
    QCOMPARE(socket->error(), QAbstractSocket::UnknownSocketError);
    *peerOut = std::move(peer);
}

// Plain Qt code written for QAbstractSocket: writes in chunks paced by
// bytesWritten(), reads with read(char *, n) through a small read buffer
// (so Qt pauses and resumes its read notifier), and checks both directions.
void exchangeThroughAbstractSocket(QAbstractSocket *socket, QTcpServer *server,
                                   const QByteArray &upload, const QByteArray &download,
                                   std::unique_ptr<QTcpSocket> *peerOut)
{
    constexpr qsizetype Chunk = 16 * 1024;
    QByteArray received;
    QByteArray peerReceived;
    qsizetype queued = 0;
    qint64 written = 0;
    QObject context;

    socket->setReadBufferSize(8 * 1024);
    auto queueMore = [&] {
        while (queued < upload.size() && socket->bytesToWrite() < 2 * Chunk) {
            const qsizetype n = qMin(Chunk, upload.size() - queued);
            QCOMPARE(socket->write(upload.constData() + queued, n), qint64(n));
            queued += n;
        }
    };
    QObject::connect(socket, &QAbstractSocket::connected, &context, queueMore);
    QObject::connect(socket, &QAbstractSocket::bytesWritten, &context, [&](qint64 bytes) {
        written += bytes;
        queueMore();
    });
    QObject::connect(socket, &QAbstractSocket::readyRead, &context, [&] {
        char buffer[3000];
        qint64 n;
        while ((n = socket->read(buffer, sizeof buffer)) > 0)
            received.append(buffer, n);
    });

    socket->connectToHost(QHostAddress::LocalHost, server->serverPort());
    QTRY_COMPARE_WITH_TIMEOUT(socket->state(), QAbstractSocket::ConnectedState, Timeout);
    QTRY_VERIFY_WITH_TIMEOUT(server->hasPendingConnections(), Timeout);
    std::unique_ptr<QTcpSocket> peer(server->nextPendingConnection());
    QVERIFY(peer);
    QObject::connect(peer.get(), &QTcpSocket::readyRead, &context,
                     [&] { peerReceived += peer->readAll(); });
    // The upload started on connected(): some may have arrived before the
    // readyRead() connection existed.
    peerReceived += peer->readAll();
    QCOMPARE(peer->write(download), download.size());

    QTRY_COMPARE_WITH_TIMEOUT(peerReceived.size(), upload.size(), Timeout);
    QTRY_COMPARE_WITH_TIMEOUT(received.size(), download.size(), Timeout);
    QCOMPARE(written, qint64(upload.size()));
    QCOMPARE(sha256(peerReceived), sha256(upload));
    QCOMPARE(sha256(received), sha256(download));
    QCOMPARE(socket->error(), QAbstractSocket::UnknownSocketError);
    socket->setReadBufferSize(0);
    *peerOut = std::move(peer);
}

// Sends a few bytes each way over an established pair.
void verifyDataFlows(QTcpSocket *socket, QTcpSocket *peer)
{
    QCOMPARE(socket->write("ping from client"), qint64(16));
    QTRY_COMPARE_WITH_TIMEOUT(peer->bytesAvailable(), qint64(16), Timeout);
    QCOMPARE(peer->readAll(), QByteArray("ping from client"));
    QCOMPARE(peer->write("pong from server"), qint64(16));
    QTRY_COMPARE_WITH_TIMEOUT(socket->bytesAvailable(), qint64(16), Timeout);
    QCOMPARE(socket->readAll(), QByteArray("pong from server"));
}

// Connects `socket` to `server` and returns the accepted peer.
std::unique_ptr<QTcpSocket> connectTo(QTcpSocket *socket, QTcpServer *server)
{
    socket->connectToHost(QHostAddress::LocalHost, server->serverPort());
    if (!QTest::qWaitFor([&] { return socket->state() == QAbstractSocket::ConnectedState; },
                         Timeout))
        return {};
    if (!QTest::qWaitFor([&] { return server->hasPendingConnections(); }, Timeout))
        return {};
    return std::unique_ptr<QTcpSocket>(server->nextPendingConnection());
}

// A server that hands out KeepAliveSockets, the way an application adopts
// accepted connections.
class KeepAliveServer : public QTcpServer
{
public:
    KeepAliveOptions options;
    bool setOptionsFirst = true;
    bool adopted = false;
    int effectiveChangedDuringAdoption = 0;
    KernelKeepAlive kernelAfterAdoption;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new KeepAliveSocket(this);
        QObject::connect(socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged, this,
                         [this] { ++effectiveChangedDuringAdoption; });
        if (setOptionsFirst)
            socket->setKeepAliveOptions(options);
        adopted = socket->setSocketDescriptor(descriptor);
        // Before the application gets to see the socket.
        kernelAfterAdoption = kernel(descriptor);
        if (!setOptionsFirst)
            socket->setKeepAliveOptions(options);
        addPendingConnection(socket);
    }
};

// Records which logging category each message came from, then passes it on
// to Qt Test's own handler (so QTest::ignoreMessage() keeps working).
struct MessageRecorder
{
    struct Message
    {
        QtMsgType type;
        QString category;
        QString text;
    };
    static inline QList<Message> messages;
    static inline QtMessageHandler previous = nullptr;

    MessageRecorder()
    {
        messages.clear();
        previous = qInstallMessageHandler(&MessageRecorder::handle);
    }
    ~MessageRecorder() { qInstallMessageHandler(previous); }
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &text)
    {
        messages.append({type, QString::fromUtf8(context.category), text});
        if (previous)
            previous(type, context, text);
    }
};

} // namespace

Q_DECLARE_METATYPE(KernelKeepAlive)

// Interposes the C library's setsockopt() for the whole process, the
// library's calls included (see g_refuseTcpOptionsOn); everything else
// passes through.
extern "C" int setsockopt(int fd, int level, int name, const void *value, socklen_t length) noexcept
{
    using Real = int (*)(int, int, int, const void *, socklen_t);
    static const auto real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "setsockopt"));
    if (fd == g_refuseTcpOptionsOn && level == IPPROTO_TCP) {
        errno = ENOPROTOOPT;
        return -1;
    }
    return real(fd, level, name, value, length);
}

class tst_KeepAliveSocket : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    // Applying options, verified with the test's own getsockopt().
    void defaultOptionsAppliedOnConnect();
    void applyBeforeConnect_data();
    void applyBeforeConnect();
    void appliedBeforeConnectedIsAnnounced();
    void applyWhileConnected();
    void changeWhileConnected();
    void reconnect_data();
    void reconnect();
    void adoptInIncomingConnection_data();
    void adoptInIncomingConnection();
    void adoptAcceptedDescriptor();
    void adoptInvalidDescriptor();

    // Invalid options change nothing.
    void invalidOptionsWhileConnected_data();
    void invalidOptionsWhileConnected();
    void invalidOptionsBeforeConnect();

    // Read-back.
    void effectiveOptionsAgreeWithKernel_data();
    void effectiveOptionsAgreeWithKernel();
    void effectiveOptionsReadTheKernelNow();
    void effectiveOptionsUnknownWhenUnconnected();

    // Properties, signals, enums.
    void optionsChangedSignal();
    void effectiveOptionsChangedSignal();
    void metaProperties();
    void keepAliveErrorNotifiesEveryChange();
    void enumNames();

    // The kernel refuses: a stream socket that is not TCP.
    void refusedOnAdoption();
    void refusedWhileConnected();

    // Drop-in for QTcpSocket.
    void dropInThroughTcpSocketPointer();
    void dropInThroughAbstractSocketPointer();
    void qtErrorsUntouched();

    void connectionHealth();
};

void tst_KeepAliveSocket::initTestCase()
{
    // The test's own getsockopt() must see what it expects on this kernel.
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QTcpSocket plain;
    std::unique_ptr<QTcpSocket> peer = connectTo(&plain, &server);
    QVERIFY(peer);
    const KernelKeepAlive k = kernel(plain);
    QVERIFY2(k.keepAlive == 0 && k.idle > 0 && k.interval > 0 && k.count > 0 && k.userTimeout == 0,
             qPrintable(QDebug::toString(k)));
}

void tst_KeepAliveSocket::defaultOptionsAppliedOnConnect()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    // Enabled, idle 60 s, interval 10 s, 3 probes, automatic 90 s.
    QCOMPARE(kernel(socket), (KernelKeepAlive{1, 60, 10, 3, 90000}));
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
}

void tst_KeepAliveSocket::applyBeforeConnect_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<KernelKeepAlive>("expected");

    QTest::newRow("idle 10 s, interval 2 s, 3 probes") << chosenOptions() << chosenKernel;
    // TCP_KEEPIDLE/TCP_KEEPINTVL take seconds: rounded up, never truncated to 0.
    QTest::newRow("sub-second rounded up")
            << KeepAliveOptions().setIdle(1500ms).setInterval(500ms).setProbeCount(4)
            << KernelKeepAlive{1, 2, 1, 4, 6000};
    QTest::newRow("explicit user timeout")
            << KeepAliveOptions().setIdle(20s).setInterval(5s).setProbeCount(2).setUserTimeout(
                       2500ms)
            << KernelKeepAlive{1, 20, 5, 2, 2500};
    QTest::newRow("user timeout off")
            << KeepAliveOptions().setIdle(30s).setInterval(3s).setProbeCount(5).setUserTimeoutMode(
                       Mode::Off)
            << KernelKeepAlive{1, 30, 3, 5, 0};
    // The timing options are kept for a later enable; no retransmission bound.
    QTest::newRow("keepalive disabled")
            << KeepAliveOptions().setEnabled(false).setIdle(40s).setInterval(4s).setProbeCount(6)
            << KernelKeepAlive{0, 40, 4, 6, 0};
    QTest::newRow("keepalive disabled, explicit user timeout")
            << KeepAliveOptions().setEnabled(false).setUserTimeout(7s)
            << KernelKeepAlive{0, 60, 10, 3, 7000};
    QTest::newRow("minimum values")
            << KeepAliveOptions().setIdle(1ms).setInterval(1ms).setProbeCount(1).setUserTimeout(1s)
            << KernelKeepAlive{1, 1, 1, 1, 1000};
    QTest::newRow("maximum values") << KeepAliveOptions()
                                               .setIdle(32767s)
                                               .setInterval(32767s)
                                               .setProbeCount(127)
                                               .setUserTimeout(milliseconds(INT_MAX))
                                    << KernelKeepAlive{1, 32767, 32767, 127, INT_MAX};
}

void tst_KeepAliveSocket::applyBeforeConnect()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(KernelKeepAlive, expected);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);

    QVERIFY(socket.setKeepAliveOptions(options));
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    QCOMPARE(socket.keepAliveOptions(), options);
    QCOMPARE(effectiveChanged.count(), 0); // nothing to apply to yet

    // The application's own connected() handler already sees the options in force.
    KernelKeepAlive inConnectedHandler;
    connect(&socket, &QAbstractSocket::connected, this,
            [&] { inConnectedHandler = kernel(socket); });

    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(inConnectedHandler, expected);
    QCOMPARE(kernel(socket), expected);
    QCOMPARE(effectiveChanged.count(), 1);
    QCOMPARE(fromOptions(effectiveChanged.first().first().value<EffectiveKeepAliveOptions>()),
             expected);
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
}

// The application's handlers of stateChanged(ConnectedState) and
// connected() find the options in the kernel and read back already.
void tst_KeepAliveSocket::appliedBeforeConnectedIsAnnounced()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    std::optional<KernelKeepAlive> atStateChanged;
    std::optional<KernelKeepAlive> atConnected;
    bool effectiveAtStateChanged = false;
    connect(&socket, &QAbstractSocket::stateChanged, this, [&](QAbstractSocket::SocketState state) {
        if (state != QAbstractSocket::ConnectedState)
            return;
        atStateChanged = kernel(socket);
        effectiveAtStateChanged = !socket.effectiveKeepAliveOptions().isEmpty();
    });
    connect(&socket, &QAbstractSocket::connected, this, [&] { atConnected = kernel(socket); });
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QVERIFY(atStateChanged);
    QVERIFY(atConnected);
    QCOMPARE(*atStateChanged, chosenKernel);
    QCOMPARE(*atConnected, chosenKernel);
    QVERIFY(effectiveAtStateChanged);
    QCOMPARE(effectiveChanged.count(), 1);
    verifyDataFlows(&socket, peer.get());
}

void tst_KeepAliveSocket::applyWhileConnected()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(kernel(socket), (KernelKeepAlive{1, 60, 10, 3, 90000}));

    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    // Applied at once: no event loop between the call and the check.
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QCOMPARE(kernel(socket), chosenKernel);
    QCOMPARE(effectiveChanged.count(), 1);
    QCOMPARE(fromOptions(effectiveChanged.first().first().value<EffectiveKeepAliveOptions>()),
             chosenKernel);
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
    verifyDataFlows(&socket, peer.get());
}

void tst_KeepAliveSocket::changeWhileConnected()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(kernel(socket), chosenKernel);

    const struct
    {
        KeepAliveOptions options;
        KernelKeepAlive expected;
    } steps[] = {
            {KeepAliveOptions().setIdle(20s).setInterval(4s).setProbeCount(5), {1, 20, 4, 5, 40000}},
            {KeepAliveOptions().setIdle(20s).setInterval(4s).setProbeCount(5).setUserTimeout(3s),
             {1, 20, 4, 5, 3000}},
            {KeepAliveOptions().setIdle(20s).setInterval(4s).setProbeCount(5).setUserTimeoutMode(
                     Mode::Off),
             {1, 20, 4, 5, 0}},
            {KeepAliveOptions().setEnabled(false).setIdle(20s).setInterval(4s).setProbeCount(5),
             {0, 20, 4, 5, 0}},
            {chosenOptions(), chosenKernel},
    };
    for (const auto &step : steps) {
        QVERIFY(socket.setKeepAliveOptions(step.options));
        QCOMPARE(socket.keepAliveOptions(), step.options);
        QCOMPARE(kernel(socket), step.expected);
    }
    verifyDataFlows(&socket, peer.get());
}

void tst_KeepAliveSocket::reconnect_data()
{
    QTest::addColumn<QString>("howItEnds");
    QTest::newRow("disconnectFromHost") << QStringLiteral("disconnectFromHost");
    QTest::newRow("abort") << QStringLiteral("abort");
    QTest::newRow("peer closes") << QStringLiteral("peer closes");
}

void tst_KeepAliveSocket::reconnect()
{
    QFETCH(QString, howItEnds);

    QTcpServer first;
    QTcpServer second;
    QVERIFY(first.listen(QHostAddress::LocalHost, 0));
    QVERIFY(second.listen(QHostAddress::LocalHost, 0));

    const KeepAliveOptions options =
            KeepAliveOptions().setIdle(12s).setInterval(3s).setProbeCount(4).setUserTimeout(5s);
    const KernelKeepAlive expected{1, 12, 3, 4, 5000};

    KeepAliveSocket socket;
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    QVERIFY(socket.setKeepAliveOptions(options));
    std::unique_ptr<QTcpSocket> firstPeer = connectTo(&socket, &first);
    QVERIFY(firstPeer);
    QCOMPARE(kernel(socket), expected);
    QCOMPARE(effectiveChanged.count(), 1);

    if (howItEnds == QLatin1String("disconnectFromHost"))
        socket.disconnectFromHost();
    else if (howItEnds == QLatin1String("abort"))
        socket.abort();
    else
        firstPeer->disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, Timeout);
    QCOMPARE(socket.socketDescriptor(), qintptr(-1));
    // Without a connection the kernel holds nothing for us: announced as all unknown.
    QCOMPARE(effectiveChanged.count(), 2);
    QCOMPARE(effectiveChanged.last().at(0).value<EffectiveKeepAliveOptions>().knownFields(),
             KeepAliveOptions::Fields());

    // A fresh descriptor starts from the system defaults (SO_KEEPALIVE 0,
    // no user timeout): only a new apply gives it our values.
    std::unique_ptr<QTcpSocket> secondPeer = connectTo(&socket, &second);
    QVERIFY(secondPeer);
    QCOMPARE(socket.peerPort(), second.serverPort());
    QCOMPARE(kernel(socket), expected);
    QCOMPARE(effectiveChanged.count(), 3);
    QCOMPARE(effectiveChanged.last().at(0).value<EffectiveKeepAliveOptions>(),
             socket.effectiveKeepAliveOptions());
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    verifyDataFlows(&socket, secondPeer.get());
}

void tst_KeepAliveSocket::adoptInIncomingConnection_data()
{
    QTest::addColumn<bool>("setOptionsFirst");
    QTest::newRow("options, then setSocketDescriptor()") << true;
    QTest::newRow("setSocketDescriptor(), then options") << false;
}

void tst_KeepAliveSocket::adoptInIncomingConnection()
{
    QFETCH(bool, setOptionsFirst);

    KeepAliveServer server;
    server.options = chosenOptions();
    server.setOptionsFirst = setOptionsFirst;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));

    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTRY_VERIFY_WITH_TIMEOUT(server.hasPendingConnections(), Timeout);
    QVERIFY(server.adopted);
    std::unique_ptr<QTcpSocket> accepted(server.nextPendingConnection());
    auto *adopted = qobject_cast<KeepAliveSocket *>(accepted.get());
    QVERIFY(adopted);
    QCOMPARE(adopted->state(), QAbstractSocket::ConnectedState);

    if (setOptionsFirst) {
        // Applied by setSocketDescriptor() itself.
        QCOMPARE(server.kernelAfterAdoption, chosenKernel);
        QCOMPARE(server.effectiveChangedDuringAdoption, 1);
    } else {
        // Adopted with the defaults, then changed.
        QCOMPARE(server.kernelAfterAdoption, (KernelKeepAlive{1, 60, 10, 3, 90000}));
        QCOMPARE(server.effectiveChangedDuringAdoption, 2);
    }
    QCOMPARE(kernel(*adopted), chosenKernel);
    QCOMPARE(adopted->keepAliveError(), KeepAliveError::NoError);
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::ConnectedState, Timeout);
    verifyDataFlows(&client, adopted);
}

void tst_KeepAliveSocket::adoptAcceptedDescriptor()
{
    // A descriptor from a plain accept(), as other frameworks hand them over.
    Descriptor listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    QVERIFY(listener.fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    QCOMPARE(::bind(listener.fd, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
    QCOMPARE(::listen(listener.fd, 4), 0);
    socklen_t length = sizeof address;
    QCOMPARE(::getsockname(listener.fd, reinterpret_cast<sockaddr *>(&address), &length), 0);

    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, ntohs(address.sin_port));
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::ConnectedState, Timeout);
    Descriptor accepted{::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC)};
    QVERIFY(accepted.fd >= 0);
    QCOMPARE(kernel(accepted.fd).keepAlive, 0);

    KeepAliveSocket socket;
    const KeepAliveOptions options =
            KeepAliveOptions().setIdle(7s).setInterval(1s).setProbeCount(2).setUserTimeoutMode(
                    Mode::Off);
    QVERIFY(socket.setKeepAliveOptions(options));
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    QVERIFY(socket.setSocketDescriptor(accepted.fd));
    const int fd = accepted.release(); // the socket owns it now
    QCOMPARE(socket.socketDescriptor(), qintptr(fd));
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(kernel(fd), (KernelKeepAlive{1, 7, 1, 2, 0}));
    QCOMPARE(effectiveChanged.count(), 1);
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    verifyDataFlows(&client, &socket);
}

void tst_KeepAliveSocket::adoptInvalidDescriptor()
{
    Descriptor unused{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    QVERIFY(unused.fd >= 0);
    const int closed = unused.fd;
    ::close(unused.release());

    KeepAliveSocket socket;
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);
    QVERIFY(!socket.setSocketDescriptor(closed));
    QCOMPARE(socket.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(effectiveChanged.count(), 0);
    // Refused by Qt; the keepalive error says why nothing was applied (tests/auto/socket/adoption).
    QCOMPARE(keepAliveErrors.count(), 1);
    QCOMPARE(socket.keepAliveError(), KeepAliveError::UnsupportedSocket);
    QCOMPARE(socket.keepAliveErrorString(),
             QStringLiteral("keepalive is not applied: descriptor %1 is not an open descriptor")
                     .arg(closed));
}

void tst_KeepAliveSocket::invalidOptionsWhileConnected_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<QString>("expectedMessage");

    const QString seconds = QStringLiteral("out of range 1 ms..32767 s (sub-second values are "
                                           "rounded up to whole seconds on this platform)");
    QTest::newRow("probe count 200")
            << KeepAliveOptions(chosenOptions()).setProbeCount(200)
            << QStringLiteral("invalid keepalive options: probe count 200 is out of range 1..127");
    QTest::newRow("probe count 0")
            << KeepAliveOptions(chosenOptions()).setProbeCount(0)
            << QStringLiteral("invalid keepalive options: probe count 0 is out of range 1..127");
    QTest::newRow("idle 0") << KeepAliveOptions(chosenOptions()).setIdle(0ms)
                            << QStringLiteral("invalid keepalive options: idle 0 ms is ") + seconds;
    QTest::newRow("idle 32768 s") << KeepAliveOptions(chosenOptions()).setIdle(32768s)
                                  << QStringLiteral("invalid keepalive options: idle 32768 s is ")
                    + seconds;
    QTest::newRow("interval -1 s")
            << KeepAliveOptions(chosenOptions()).setInterval(-1s)
            << QStringLiteral("invalid keepalive options: interval -1 s is ") + seconds;
    QTest::newRow("user timeout 0")
            << KeepAliveOptions(chosenOptions()).setUserTimeout(0ms)
            << QStringLiteral("invalid keepalive options: user timeout 0 ms is out of range "
                              "1 s..2147483647 ms (a shorter bound cuts off live peers that pause "
                              "reading)");
    QTest::newRow("automatic user timeout overflow")
            << KeepAliveOptions().setIdle(32767s).setInterval(32767s).setProbeCount(127)
            << QStringLiteral("invalid keepalive options: automatic user timeout (idle + interval "
                              "\u00d7 probe count) 4194176 s is out of range 1 s..2147483647 ms "
                              "(lower the values or set the user timeout explicitly)");
    // A read-back cannot be mistaken for a request: it does not even convert.
    static_assert(!std::is_convertible_v<EffectiveKeepAliveOptions, KeepAliveOptions>);
}

void tst_KeepAliveSocket::invalidOptionsWhileConnected()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(QString, expectedMessage);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    const KeepAliveOptions previous =
            KeepAliveOptions().setIdle(15s).setInterval(5s).setProbeCount(2);
    const KernelKeepAlive previousKernel{1, 15, 5, 2, 25000};
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(previous));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(kernel(socket), previousKernel);

    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);
    QSignalSpy optionsChanged(&socket, &KeepAliveSocket::keepAliveOptionsChanged);
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);
    QSignalSpy errors(&socket, &QAbstractSocket::errorOccurred);

    QTest::ignoreMessage(QtWarningMsg, qPrintable(expectedMessage));
    QVERIFY(!socket.setKeepAliveOptions(options));

    QCOMPARE(socket.keepAliveError(), KeepAliveError::InvalidOptions);
    QCOMPARE(socket.keepAliveErrorString(), expectedMessage);
    QCOMPARE(keepAliveErrors.count(), 1);
    QCOMPARE(keepAliveErrors.first().first().value<KeepAliveError>(),
             KeepAliveError::InvalidOptions);
    QCOMPARE(socket.keepAliveOptions(), previous);
    QCOMPARE(optionsChanged.count(), 0);
    QCOMPARE(effectiveChanged.count(), 0);
    QCOMPARE(kernel(socket), previousKernel);
    QCOMPARE(fromOptions(socket.effectiveKeepAliveOptions()), previousKernel);

    // The connection is not affected in any way.
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(errors.count(), 0);
    verifyDataFlows(&socket, peer.get());
    QCOMPARE(keepAliveErrors.count(), 1);

    // The next valid options clear the error.
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    QCOMPARE(socket.keepAliveErrorString(), QString());
    QCOMPARE(kernel(socket), chosenKernel);
}

void tst_KeepAliveSocket::invalidOptionsBeforeConnect()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);

    const QString message =
            QStringLiteral("invalid keepalive options: probe count 128 is out of range 1..127");
    QTest::ignoreMessage(QtWarningMsg, qPrintable(message));
    QVERIFY(!socket.setKeepAliveOptions(KeepAliveOptions(chosenOptions()).setProbeCount(128)));
    QCOMPARE(socket.keepAliveError(), KeepAliveError::InvalidOptions);
    QCOMPARE(socket.keepAliveErrorString(), message);
    QCOMPARE(keepAliveErrors.count(), 1);
    QCOMPARE(socket.keepAliveOptions(), chosenOptions());

    // The previous options are the ones applied on connect.
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(kernel(socket), chosenKernel);
    QCOMPARE(keepAliveErrors.count(), 1);
}

void tst_KeepAliveSocket::effectiveOptionsAgreeWithKernel_data()
{
    QTest::addColumn<KeepAliveOptions>("options");
    QTest::addColumn<KernelKeepAlive>("expected");

    QTest::newRow("chosen") << chosenOptions() << chosenKernel;
    QTest::newRow("sub-second") << KeepAliveOptions().setIdle(1200ms).setInterval(1ms)
                                << KernelKeepAlive{1, 2, 1, 3, 5000};
    QTest::newRow("explicit") << KeepAliveOptions(chosenOptions()).setUserTimeout(4321ms)
                              << KernelKeepAlive{1, 10, 2, 3, 4321};
    QTest::newRow("off") << KeepAliveOptions(chosenOptions()).setUserTimeoutMode(Mode::Off)
                         << KernelKeepAlive{1, 10, 2, 3, 0};
    QTest::newRow("disabled") << KeepAliveOptions(chosenOptions()).setEnabled(false)
                              << KernelKeepAlive{0, 10, 2, 3, 0};
}

void tst_KeepAliveSocket::effectiveOptionsAgreeWithKernel()
{
    QFETCH(KeepAliveOptions, options);
    QFETCH(KernelKeepAlive, expected);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(options));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);

    const KernelKeepAlive k = kernel(socket);
    QCOMPARE(k, expected);
    const EffectiveKeepAliveOptions effective = socket.effectiveKeepAliveOptions();
    QCOMPARE(effective.knownFields(), allFields);
    QCOMPARE(effective.enabled, std::optional<bool>(k.keepAlive != 0));
    QCOMPARE(effective.idle, std::optional<milliseconds>(seconds(k.idle)));
    QCOMPARE(effective.interval, std::optional<milliseconds>(seconds(k.interval)));
    QCOMPARE(effective.probeCount, std::optional<int>(k.count));
    // 0 ms: the kernel holds no retransmission bound.
    QCOMPARE(effective.userTimeout, std::optional<milliseconds>(k.userTimeout));
    // What was asked for is kept as asked (e.g. 1200 ms), not as applied.
    QCOMPARE(socket.keepAliveOptions(), options);
}

void tst_KeepAliveSocket::effectiveOptionsReadTheKernelNow()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);

    // Changed behind the library's back: the read-back shows the truth.
    const int idle = 77;
    QCOMPARE(::setsockopt(int(socket.socketDescriptor()), IPPROTO_TCP, TCP_KEEPIDLE, &idle,
                          sizeof idle),
             0);
    QCOMPARE(socket.effectiveKeepAliveOptions().idle, std::optional<milliseconds>(77s));
    QCOMPARE(socket.keepAliveOptions().idle(), milliseconds(10s));
}

void tst_KeepAliveSocket::effectiveOptionsUnknownWhenUnconnected()
{
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QCOMPARE(socket.effectiveKeepAliveOptions().knownFields(), Fields());
    QCOMPARE(socket.effectiveKeepAliveOptions().idle, std::nullopt);
    QCOMPARE(socket.effectiveKeepAliveOptions().probeCount, std::nullopt);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(socket.effectiveKeepAliveOptions().knownFields(), allFields);

    socket.disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, Timeout);
    QCOMPARE(socket.effectiveKeepAliveOptions().knownFields(), Fields());
    QVERIFY(socket.effectiveKeepAliveOptions().isEmpty());
    QCOMPARE(socket.effectiveKeepAliveOptions().userTimeout, std::nullopt);
}

void tst_KeepAliveSocket::optionsChangedSignal()
{
    KeepAliveSocket socket;
    QSignalSpy changed(&socket, &KeepAliveSocket::keepAliveOptionsChanged);

    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.last().first().value<KeepAliveOptions>(), chosenOptions());

    // Equal options, built anew: no change, no signal.
    QVERIFY(socket.setKeepAliveOptions(
            KeepAliveOptions().setProbeCount(3).setInterval(2s).setIdle(10s)));
    QCOMPARE(changed.count(), 1);

    const KeepAliveOptions off = KeepAliveOptions(chosenOptions()).setUserTimeoutMode(Mode::Off);
    QVERIFY(socket.setKeepAliveOptions(off));
    QCOMPARE(changed.count(), 2);
    QCOMPARE(changed.last().first().value<KeepAliveOptions>(), off);

    // Back to the defaults.
    QVERIFY(socket.setKeepAliveOptions(KeepAliveOptions()));
    QCOMPARE(changed.count(), 3);
    QCOMPARE(socket.keepAliveOptions(), KeepAliveOptions());

    // Same value, while connected: still no signal.
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QVERIFY(socket.setKeepAliveOptions(KeepAliveOptions()));
    QCOMPARE(changed.count(), 3);
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QCOMPARE(changed.count(), 4);
}

void tst_KeepAliveSocket::effectiveOptionsChangedSignal()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);

    // Emitted after the apply, with what the kernel then holds.
    KernelKeepAlive kernelWhenEmitted;
    connect(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged, this,
            [&] { kernelWhenEmitted = kernel(socket); });

    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QCOMPARE(effectiveChanged.count(), 0);
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(effectiveChanged.count(), 1);
    QCOMPARE(kernelWhenEmitted, chosenKernel);
    QCOMPARE(effectiveChanged.last().first().value<EffectiveKeepAliveOptions>(),
             socket.effectiveKeepAliveOptions());

    const KeepAliveOptions other = KeepAliveOptions().setIdle(30s).setInterval(6s).setProbeCount(4);
    QVERIFY(socket.setKeepAliveOptions(other));
    QCOMPARE(effectiveChanged.count(), 2);
    QCOMPARE(kernelWhenEmitted, (KernelKeepAlive{1, 30, 6, 4, 54000}));
    QCOMPARE(fromOptions(effectiveChanged.last().first().value<EffectiveKeepAliveOptions>()),
             kernel(socket));
}

void tst_KeepAliveSocket::metaProperties()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    const QMetaObject *meta = socket.metaObject();

    const int optionsIndex = meta->indexOfProperty("keepAliveOptions");
    QVERIFY(optionsIndex >= 0);
    const QMetaProperty options = meta->property(optionsIndex);
    QVERIFY(options.isReadable());
    QVERIFY(options.isWritable());
    QVERIFY(options.hasNotifySignal());
    QCOMPARE(options.notifySignal().name(), QByteArray("keepAliveOptionsChanged"));
    QCOMPARE(options.metaType(), QMetaType::fromType<KeepAliveOptions>());
    QCOMPARE(options.read(&socket).value<KeepAliveOptions>(), KeepAliveOptions());

    // Written through the meta-object, as QML or a generic settings UI would.
    QSignalSpy changed(&socket, &KeepAliveSocket::keepAliveOptionsChanged);
    QVERIFY(socket.setProperty("keepAliveOptions", QVariant::fromValue(chosenOptions())));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(socket.keepAliveOptions(), chosenOptions());
    QCOMPARE(socket.property("keepAliveOptions").value<KeepAliveOptions>(), chosenOptions());

    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    QCOMPARE(kernel(socket), chosenKernel);

    const QMetaProperty effective =
            meta->property(meta->indexOfProperty("effectiveKeepAliveOptions"));
    QVERIFY(effective.isValid());
    QVERIFY(!effective.isWritable());
    QCOMPARE(effective.notifySignal().name(), QByteArray("effectiveKeepAliveOptionsChanged"));
    QCOMPARE(fromOptions(effective.read(&socket).value<EffectiveKeepAliveOptions>()), chosenKernel);

    const QMetaProperty error = meta->property(meta->indexOfProperty("keepAliveError"));
    QVERIFY(error.isValid());
    QVERIFY(error.isEnumType());
    QCOMPARE(error.notifySignal().name(), QByteArray("keepAliveErrorChanged"));
    QCOMPARE(error.read(&socket).value<KeepAliveError>(), KeepAliveError::NoError);

    const int reasonIndex = meta->indexOfProperty("deadPeerReason");
    QVERIFY(reasonIndex >= 0);
    const QMetaProperty reason = meta->property(reasonIndex);
    QVERIFY(reason.isReadable());
    QVERIFY(!reason.isWritable());
    QVERIFY(reason.isEnumType());
    QCOMPARE(reason.notifySignal().name(), QByteArray("deadPeerReasonChanged"));
    QCOMPARE(reason.read(&socket).value<KeepAliveSocket::DeadPeerReason>(),
             KeepAliveSocket::DeadPeerReason::None);
    QCOMPARE(reason.enumerator().valueToKey(reason.read(&socket).toInt()), "None");

    // An invalid value written through the meta-object is refused like any other.
    QTest::ignoreMessage(QtWarningMsg,
                         "invalid keepalive options: probe count 0 is out of range 1..127");
    socket.setProperty("keepAliveOptions",
                       QVariant::fromValue(KeepAliveOptions(chosenOptions()).setProbeCount(0)));
    QCOMPARE(socket.keepAliveOptions(), chosenOptions());
    QCOMPARE(socket.keepAliveError(), KeepAliveError::InvalidOptions);
    QCOMPARE(kernel(socket), chosenKernel);
}

void tst_KeepAliveSocket::enumNames()
{
    const QMetaEnum reason = QMetaEnum::fromType<KeepAliveSocket::DeadPeerReason>();
    QVERIFY(reason.isValid());
    QCOMPARE(reason.name(), "DeadPeerReason");
    const QList<QByteArray> reasons{"None",
                                    "KeepAliveTimeout",
                                    "RetransmissionTimeout",
                                    "ConnectionReset",
                                    "HostUnreachable",
                                    "NetworkUnreachable",
                                    "HeartbeatTimeout",
                                    "OtherError"};
    QCOMPARE(reason.keyCount(), int(reasons.size()));
    for (const QByteArray &key : reasons) {
        bool ok = false;
        const int value = reason.keyToValue(key.constData(), &ok);
        QVERIFY2(ok, key.constData());
        QCOMPARE(reason.valueToKey(value), key.constData());
    }
    QCOMPARE(reason.valueToKey(int(KeepAliveSocket::DeadPeerReason::KeepAliveTimeout)),
             "KeepAliveTimeout");
    QCOMPARE(reason.valueToKey(int(KeepAliveSocket::DeadPeerReason::ConnectionReset)),
             "ConnectionReset");

    const QMetaEnum error = QMetaEnum::fromType<KeepAliveError>();
    QVERIFY(error.isValid());
    QCOMPARE(error.keyCount(), 4);
    QCOMPARE(error.valueToKey(int(KeepAliveError::NoError)), "NoError");
    QCOMPARE(error.valueToKey(int(KeepAliveError::InvalidOptions)), "InvalidOptions");
    QCOMPARE(error.valueToKey(int(KeepAliveError::OptionRefused)), "OptionRefused");
    QCOMPARE(error.valueToKey(int(KeepAliveError::UnsupportedSocket)), "UnsupportedSocket");
    // Values stay stable: new ones are appended.
    QCOMPARE(int(KeepAliveError::NoError), 0);
    QCOMPARE(int(KeepAliveError::OptionRefused), 2);
    QCOMPARE(int(KeepAliveError::UnsupportedSocket), 3);

    const QMetaEnum state = QMetaEnum::fromType<ConnectionHealth::TcpState>();
    QVERIFY(state.isValid());
    QCOMPARE(state.valueToKey(int(ConnectionHealth::TcpState::Established)), "Established");
    QCOMPARE(state.valueToKey(int(ConnectionHealth::TcpState::CloseWait)), "CloseWait");

    // One type, shared with the rest of the library under its namespace name.
    static_assert(std::is_same_v<KeepAliveSocket::DeadPeerReason, QtKeepAlive::DeadPeerReason>);
    static_assert(std::is_same_v<KeepAliveSocket::KeepAliveError, QtKeepAlive::KeepAliveError>);
    // Readable in logs and test output.
    QCOMPARE(QDebug::toString(KeepAliveSocket::DeadPeerReason::RetransmissionTimeout),
             QStringLiteral("QtKeepAlive::DeadPeerReason::RetransmissionTimeout"));
}

// The property's NOTIFY fires on every change of keepAliveError(), the way
// back to NoError included, and only then.
void tst_KeepAliveSocket::keepAliveErrorNotifiesEveryChange()
{
    KeepAliveSocket socket;
    QSignalSpy changes(&socket, &KeepAliveSocket::keepAliveErrorChanged);
    QSignalSpy occurrences(&socket, &KeepAliveSocket::keepAliveErrorOccurred);
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("invalid keepalive options")));
    QVERIFY(!socket.setKeepAliveOptions(KeepAliveOptions().setProbeCount(0)));
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("invalid keepalive options")));
    QVERIFY(!socket.setKeepAliveOptions(KeepAliveOptions().setProbeCount(0)));
    QVERIFY(socket.setKeepAliveOptions(KeepAliveOptions()));
    QVERIFY(socket.setKeepAliveOptions(KeepAliveOptions()));
    QCOMPARE(changes.count(), 2);
    QCOMPARE(changes.at(0).at(0).value<KeepAliveError>(), KeepAliveError::InvalidOptions);
    QCOMPARE(changes.at(1).at(0).value<KeepAliveError>(), KeepAliveError::NoError);
    QCOMPARE(occurrences.count(), 2);
}

void tst_KeepAliveSocket::refusedOnAdoption()
{
    // A TCP connection whose kernel accepts SO_KEEPALIVE but refuses every
    // IPPROTO_TCP option (injected: see g_refuseTcpOptionsOn).
    Descriptor ours;
    Descriptor other;
    QVERIFY(tcpPair(&ours, &other));
    const KernelKeepAlive defaults = kernel(ours.fd);
    g_refuseTcpOptionsOn = ours.fd;
    const auto stopRefusing = qScopeGuard([] { g_refuseTcpOptionsOn = -1; });
    int value = 10;
    QCOMPARE(::setsockopt(ours.fd, IPPROTO_TCP, TCP_KEEPIDLE, &value, sizeof value), -1);
    QCOMPARE(errno, ENOPROTOOPT);

    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);
    QSignalSpy effectiveChanged(&socket, &KeepAliveSocket::effectiveKeepAliveOptionsChanged);

    MessageRecorder recorder;
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral(
                                 "^the kernel refused keepalive options: .*TCP_KEEPIDLE")));
    QVERIFY(socket.setSocketDescriptor(ours.release()));
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);

    // Reported, not swallowed.
    QCOMPARE(socket.keepAliveError(), KeepAliveError::OptionRefused);
    QCOMPARE(keepAliveErrors.count(), 1);
    QCOMPARE(keepAliveErrors.first().first().value<KeepAliveError>(), KeepAliveError::OptionRefused);
    const QString message = socket.keepAliveErrorString();
    for (const char *option : {"TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT"})
        QVERIFY2(message.contains(QLatin1String(option)), qPrintable(message));
    QVERIFY2(!message.contains(QLatin1String("SO_KEEPALIVE")), qPrintable(message));

    // The warning comes from the library's logging category.
    bool warned = false;
    for (const auto &m : std::as_const(MessageRecorder::messages)) {
        if (m.type == QtWarningMsg && m.text.contains(QLatin1String("TCP_KEEPIDLE"))) {
            QCOMPARE(m.category, QStringLiteral("qtkeepalive.socket"));
            warned = true;
        }
    }
    QVERIFY(warned);

    // The read-back shows the truth: SO_KEEPALIVE is on, the rest still the
    // kernel's defaults, not the refused values.
    KernelKeepAlive expected = defaults;
    expected.keepAlive = 1;
    QCOMPARE(kernel(socket), expected);
    QVERIFY(expected.idle != chosenKernel.idle);
    const EffectiveKeepAliveOptions effective = socket.effectiveKeepAliveOptions();
    QCOMPARE(effective.knownFields(), allFields);
    QCOMPARE(fromOptions(effective), expected);
    QCOMPARE(effectiveChanged.count(), 1);
    QCOMPARE(fromOptions(effectiveChanged.first().first().value<EffectiveKeepAliveOptions>()),
             expected);
    // What was asked for is still what was asked for.
    QCOMPARE(socket.keepAliveOptions(), chosenOptions());

    // The socket still works both ways.
    QCOMPARE(socket.write("to the other end"), qint64(16));
    QByteArray arrived;
    QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                char buffer[64];
                const ssize_t n = ::recv(other.fd, buffer, sizeof buffer, MSG_DONTWAIT);
                if (n > 0)
                    arrived.append(buffer, n);
                return arrived.size() >= 16;
            }(),
            Timeout);
    QCOMPARE(arrived, QByteArray("to the other end"));
    QCOMPARE(::send(other.fd, "and back", 8, MSG_NOSIGNAL), ssize_t(8));
    QTRY_COMPARE_WITH_TIMEOUT(socket.bytesAvailable(), qint64(8), Timeout);
    QCOMPARE(socket.readAll(), QByteArray("and back"));
    QCOMPARE(socket.state(), QAbstractSocket::ConnectedState);
}

void tst_KeepAliveSocket::refusedWhileConnected()
{
    Descriptor ours;
    Descriptor other;
    QVERIFY(tcpPair(&ours, &other));
    const KernelKeepAlive defaults = kernel(ours.fd);
    g_refuseTcpOptionsOn = ours.fd;
    const auto stopRefusing = qScopeGuard([] { g_refuseTcpOptionsOn = -1; });

    KeepAliveSocket socket;
    QTest::ignoreMessage(
            QtWarningMsg,
            QRegularExpression(QStringLiteral("^the kernel refused keepalive options")));
    QVERIFY(socket.setSocketDescriptor(ours.release()));
    QCOMPARE(socket.keepAliveError(), KeepAliveError::OptionRefused);

    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);
    QSignalSpy changed(&socket, &KeepAliveSocket::keepAliveOptionsChanged);
    const KeepAliveOptions disabled = KeepAliveOptions(chosenOptions()).setEnabled(false);
    QTest::ignoreMessage(
            QtWarningMsg,
            QRegularExpression(QStringLiteral("^the kernel refused keepalive options: .*"
                                              "TCP_KEEPCNT = 3 refused")));
    // Refused: false, yet stored (the kernel took what it could: SO_KEEPALIVE off).
    QVERIFY(!socket.setKeepAliveOptions(disabled));
    QCOMPARE(socket.keepAliveError(), KeepAliveError::OptionRefused);
    QCOMPARE(keepAliveErrors.count(), 1);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(socket.keepAliveOptions(), disabled);
    KernelKeepAlive expected = defaults;
    expected.keepAlive = 0;
    QCOMPARE(kernel(socket), expected);
    QCOMPARE(fromOptions(socket.effectiveKeepAliveOptions()), expected);
    QCOMPARE(socket.effectiveKeepAliveOptions().enabled, std::optional<bool>(false));
}

void tst_KeepAliveSocket::dropInThroughTcpSocketPointer()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QVERIFY(socket.setKeepAliveOptions(chosenOptions()));
    QSignalSpy deadPeer(&socket, &KeepAliveSocket::deadPeer);

    const QByteArray upload = randomBytes(300 * 1024, 1);
    const QByteArray download = randomBytes(400 * 1024 + 17, 2);
    std::unique_ptr<QTcpSocket> peer;
    exchangeThroughTcpSocket(&socket, &server, upload, download, &peer);
    if (QTest::currentTestFailed())
        return;

    // Used only as a QTcpSocket, it still applied its options.
    QCOMPARE(kernel(socket), chosenKernel);
    QCOMPARE(deadPeer.count(), 0);
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    socket.disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, Timeout);
    QCOMPARE(deadPeer.count(), 0);
}

void tst_KeepAliveSocket::dropInThroughAbstractSocketPointer()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket socket;
    QSignalSpy deadPeer(&socket, &KeepAliveSocket::deadPeer);

    const QByteArray upload = randomBytes(512 * 1024 + 3, 3);
    const QByteArray download = randomBytes(256 * 1024, 4);
    std::unique_ptr<QTcpSocket> peer;
    exchangeThroughAbstractSocket(&socket, &server, upload, download, &peer);
    if (QTest::currentTestFailed())
        return;

    QCOMPARE(kernel(socket), (KernelKeepAlive{1, 60, 10, 3, 90000}));
    QCOMPARE(deadPeer.count(), 0);

    // The peer closes in order: Qt's RemoteHostClosedError, no dead peer.
    QSignalSpy errors(&socket, &QAbstractSocket::errorOccurred);
    peer->disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, Timeout);
    QCOMPARE(errors.count(), 1);
    QCOMPARE(errors.first().first().value<QAbstractSocket::SocketError>(),
             QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(deadPeer.count(), 0);
    QCOMPARE(socket.deadPeerReason(), KeepAliveSocket::DeadPeerReason::None);
}

void tst_KeepAliveSocket::qtErrorsUntouched()
{
    // A port that is bound but not listening: connecting is refused (RST),
    // and nobody else can take the port while the test holds it.
    Descriptor bound{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    QVERIFY(bound.fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    QCOMPARE(::bind(bound.fd, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    QCOMPARE(::getsockname(bound.fd, reinterpret_cast<sockaddr *>(&address), &length), 0);
    const quint16 port = ntohs(address.sin_port);

    KeepAliveSocket socket;
    QAbstractSocket *plain = &socket;
    QSignalSpy errors(plain, &QAbstractSocket::errorOccurred);
    QSignalSpy deadPeer(&socket, &KeepAliveSocket::deadPeer);
    QSignalSpy keepAliveErrors(&socket, &KeepAliveSocket::keepAliveErrorOccurred);
    QAbstractSocket::SocketError seen = QAbstractSocket::UnknownSocketError;
    QObject::connect(plain, &QAbstractSocket::errorOccurred, this,
                     [&](QAbstractSocket::SocketError error) { seen = error; });

    plain->connectToHost(QHostAddress::LocalHost, port);
    QTRY_COMPARE_WITH_TIMEOUT(errors.count(), 1, Timeout);
    QCOMPARE(seen, QAbstractSocket::ConnectionRefusedError);
    QCOMPARE(errors.first().first().value<QAbstractSocket::SocketError>(),
             QAbstractSocket::ConnectionRefusedError);
    QCOMPARE(static_cast<QAbstractSocket *>(&socket)->error(),
             QAbstractSocket::ConnectionRefusedError);
    QCOMPARE(socket.error(), QAbstractSocket::ConnectionRefusedError);
    // Qt's own text, not a dead-peer message.
    QCOMPARE(plain->errorString(), QStringLiteral("Connection refused"));
    QTRY_COMPARE_WITH_TIMEOUT(socket.state(), QAbstractSocket::UnconnectedState, Timeout);

    QCOMPARE(deadPeer.count(), 0);
    QCOMPARE(socket.deadPeerReason(), KeepAliveSocket::DeadPeerReason::None);
    QCOMPARE(keepAliveErrors.count(), 0);
    QCOMPARE(socket.keepAliveError(), KeepAliveError::NoError);
    QCOMPARE(errors.count(), 1);
}

void tst_KeepAliveSocket::connectionHealth()
{
    KeepAliveSocket socket;
    QVERIFY(!socket.connectionHealth().isValid());
    QCOMPARE(socket.connectionHealth().state, ConnectionHealth::TcpState::Unknown);
    QVERIFY(!socket.connectionHealth().rtt);
    QVERIFY(!socket.connectionHealth().unackedSegments);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::unique_ptr<QTcpSocket> peer = connectTo(&socket, &server);
    QVERIFY(peer);
    verifyDataFlows(&socket, peer.get());

    const ConnectionHealth health = socket.connectionHealth();
    QVERIFY(health.isValid());
    QCOMPARE(health.state, ConnectionHealth::TcpState::Established);
    QVERIFY(health.rtt.has_value());
    QVERIFY(health.rtt->count() > 0); // data went both ways: the RTT was sampled
    QVERIFY(health.rttVariance.has_value());
    QCOMPARE(health.retransmits, std::optional<int>(0));
    QCOMPARE(health.probes, std::optional<int>(0));
    QVERIFY(health.unackedSegments.has_value());
    QVERIFY(health.sinceLastDataReceived.has_value());
    QVERIFY(health.sinceLastAckReceived.has_value());

    socket.abort();
    QVERIFY(!socket.connectionHealth().isValid());
    QCOMPARE(socket.connectionHealth().state, ConnectionHealth::TcpState::Unknown);
}

QTEST_GUILESS_MAIN(tst_KeepAliveSocket)
#include "tst_keepalivesocket.moc"
