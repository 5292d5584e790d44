// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// Proxied connections. Behind a SOCKS5 proxy, Qt's socketDescriptor() is a
// per-process counter (1, 2, 3 …; QSocks5SocketEngine::initialize()), not a
// descriptor; the real TCP connection is the proxy engine's inner QTcpSocket.
// Behind an HTTP CONNECT proxy it is the inner socket's descriptor, cached at
// connect: still reported after the inner socket has closed it (when the
// number may already name another file). The options must land on the real connection to the proxy,
// never on whatever file has the reported number, and a dead connection to
// the proxy must be reported like a dead peer.
//
// Every test runs through both proxies of tests/auto/shared/testproxy.h (in
// process, 127.0.0.1) to a target accepted by an in-process QTcpServer. A
// fault "between the client and the proxy" is made on the proxy's accepted
// client-facing socket: silence() (a pulled cable) or resetConnection().
//
// What Qt 6.4 itself does when that inner connection fails (qsocks5socketengine.cpp,
// qhttpsocketengine.cpp, observed): a FIN or a RST both reach the outer socket
// on its read path as errorOccurred(RemoteHostClosedError) ("Remote host closed
// connection###" for SOCKS5, "Remote host closed" for HTTP), then
// disconnected(), the bytes received before still readable: a reset cannot be
// told from a close by the outer socket's signals. A keepalive or user timeout
// (SocketTimeoutError on the inner socket) is ignored by both engines: the
// outer socket stays ConnectedState with no signal at all, until a write fails
// (write path: errorOccurred(UnknownSocketError) "Unknown error", then abort(),
// which drops the unread bytes).

#include "../../shared/deadpeerwatch.h"
#include "../../shared/testproxy.h"

#include <KeepAliveSocket>
#include <keepalivetesting.h>

#include <QtCore/QList>
#include <QtCore/QMetaEnum>
#include <QtCore/QScopeGuard>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <chrono>
#include <memory>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;

using namespace DeadPeerTest;

namespace {

bool setIntOption(int descriptor, int level, int option, int value)
{
    return ::setsockopt(descriptor, level, option, &value, sizeof value) == 0;
}

// The keepalive settings the kernel holds for a socket, in one comparable line.
QString kernelOptions(int descriptor)
{
    return QStringLiteral("SO_KEEPALIVE %1, TCP_KEEPIDLE %2 s, TCP_KEEPINTVL %3 s, TCP_KEEPCNT %4, "
                          "TCP_USER_TIMEOUT %5 ms")
            .arg(intOption(descriptor, SOL_SOCKET, SO_KEEPALIVE))
            .arg(intOption(descriptor, IPPROTO_TCP, TCP_KEEPIDLE))
            .arg(intOption(descriptor, IPPROTO_TCP, TCP_KEEPINTVL))
            .arg(intOption(descriptor, IPPROTO_TCP, TCP_KEEPCNT))
            .arg(intOption(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT));
}

// The same line for options the library reports.
QString libraryOptions(const EffectiveKeepAliveOptions &options)
{
    return QStringLiteral("SO_KEEPALIVE %1, TCP_KEEPIDLE %2 s, TCP_KEEPINTVL %3 s, TCP_KEEPCNT %4, "
                          "TCP_USER_TIMEOUT %5 ms")
            .arg(options.enabled ? int(*options.enabled) : -1)
            .arg(options.idle ? double(options.idle->count()) / 1000 : -1.0)
            .arg(options.interval ? double(options.interval->count()) / 1000 : -1.0)
            .arg(options.probeCount.value_or(-1))
            .arg(options.userTimeout ? options.userTimeout->count() : -1);
}

quint16 port(const sockaddr_storage &address)
{
    return address.ss_family == AF_INET
            ? ntohs(reinterpret_cast<const sockaddr_in &>(address).sin_port)
            : 0;
}

// This process's IPv4 TCP sockets with local port `localPort` connected to
// port `peerPort`, found in /proc/self/fd: what the kernel has, without
// asking Qt or the library.
QList<int> descriptorsOf(quint16 localPort, quint16 peerPort)
{
    QList<int> found;
    DIR *directory = ::opendir("/proc/self/fd");
    if (!directory)
        return found;
    while (const dirent *entry = ::readdir(directory)) {
        bool isNumber = false;
        const int descriptor = QByteArray(entry->d_name).toInt(&isNumber);
        if (!isNumber || descriptor == ::dirfd(directory))
            continue;
        sockaddr_storage local{};
        sockaddr_storage peer{};
        socklen_t localLength = sizeof local;
        socklen_t peerLength = sizeof peer;
        if (::getsockname(descriptor, reinterpret_cast<sockaddr *>(&local), &localLength) == 0
            && ::getpeername(descriptor, reinterpret_cast<sockaddr *>(&peer), &peerLength) == 0
            && port(local) == localPort && port(peer) == peerPort)
            found << descriptor;
    }
    ::closedir(directory);
    return found;
}

QString stateName(QAbstractSocket::SocketState state)
{
    return QString::fromLatin1(
            QMetaEnum::fromType<QAbstractSocket::SocketState>().valueToKey(state));
}

bool isOpen(int descriptor)
{
    return ::fcntl(descriptor, F_GETFD) != -1 || errno != EBADF;
}

} // namespace

class tst_Proxy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cleanup();

    void plainSocketThroughProxy_data() { proxyTypes(); }
    void plainSocketThroughProxy();
    void optionsLandOnTheRealConnection_data() { proxyTypes(); }
    void optionsLandOnTheRealConnection();
    void unrelatedSocketWithTheCounterNumberUntouched_data() { proxyTypes(); }
    void unrelatedSocketWithTheCounterNumberUntouched();
    void deadProxyDetected_data() { proxyTypes(); }
    void deadProxyDetected();
    void proxyResetIsConnectionReset_data() { proxyTypes(); }
    void proxyResetIsConnectionReset();
    void orderlyCloseThroughProxy_data() { proxyTypes(); }
    void orderlyCloseThroughProxy();

private:
    // The two ends a test can act on once a client is connected through the proxy.
    struct Path
    {
        QTcpSocket *target = nullptr;    //!< accepted by the target server
        QTcpSocket *proxySide = nullptr; //!< the proxy's accepted client-facing socket
    };

    void proxyTypes();
    bool start(QNetworkProxy::ProxyType type);
    Path connectThroughProxy(QAbstractSocket &client, const QString &host = {});
    int realDescriptor(const Path &path);
    int reserveNextSocks5Number();

    std::unique_ptr<TestProxy> m_proxy;
    std::unique_ptr<QTcpServer> m_target;
};

void tst_Proxy::proxyTypes()
{
    QTest::addColumn<QNetworkProxy::ProxyType>("type");
    QTest::newRow("socks5") << QNetworkProxy::Socks5Proxy;
    QTest::newRow("http") << QNetworkProxy::HttpProxy;
}

void tst_Proxy::cleanup()
{
    m_target.reset();
    m_proxy.reset();
}

bool tst_Proxy::start(QNetworkProxy::ProxyType type)
{
    m_proxy = std::make_unique<TestProxy>(type);
    m_target = std::make_unique<QTcpServer>();
    if (!m_proxy->listen() || !m_target->listen(QHostAddress::LocalHost, 0)) {
        qWarning() << "listen failed";
        return false;
    }
    return true;
}

// Connects `client` through the proxy to the target (by `host`, default
// 127.0.0.1) and returns both far ends once the client is connected; nullptrs
// on failure.
tst_Proxy::Path tst_Proxy::connectThroughProxy(QAbstractSocket &client, const QString &host)
{
    const int accepted = m_proxy->clientSockets().size();
    client.setProxy(m_proxy->proxy());
    client.connectToHost(host.isEmpty() ? QStringLiteral("127.0.0.1") : host,
                         m_target->serverPort());
    const bool connected = QTest::qWaitFor(
            [&] {
                return client.state() == QAbstractSocket::ConnectedState
                        && m_target->hasPendingConnections();
            },
            5000);
    if (!connected || m_proxy->clientSockets().size() != accepted + 1) {
        qWarning() << "not connected through the proxy:" << client.state() << client.errorString();
        return {};
    }
    return {m_target->nextPendingConnection(), m_proxy->clientSockets().last()};
}

// The client's end of its connection to the proxy, or -1.
int tst_Proxy::realDescriptor(const Path &path)
{
    const QList<int> found = descriptorsOf(path.proxySide->peerPort(), m_proxy->port());
    if (found.size() != 1) {
        qWarning() << "client ends of the connection to the proxy:" << found;
        return -1;
    }
    return found.first();
}

// Qt's SOCKS5 engine numbers its sockets with a process-wide counter,
// incremented in QSocks5SocketEngine::initialize(), i.e. synchronously in
// connectToHost(); socketDescriptor() shows the number once connected.
// Spends numbers on throw-away connections until the next one is at least 3
// and names no open file; returns it, or -1. The caller must take it with the
// next SOCKS5 connectToHost() of the process, before the event loop runs.
int tst_Proxy::reserveNextSocks5Number()
{
    TestProxy socks5(QNetworkProxy::Socks5Proxy);
    if (!socks5.listen())
        return -1;
    for (int attempt = 0; attempt < 200; ++attempt) {
        QTcpSocket probe;
        probe.setProxy(socks5.proxy());
        probe.connectToHost(QHostAddress::LocalHost, m_target->serverPort());
        // No waitForConnected(): the proxy needs this thread's event loop.
        if (!QTest::qWaitFor(
                    [&] {
                        return probe.state() == QAbstractSocket::ConnectedState
                                && m_target->hasPendingConnections();
                    },
                    5000))
            return -1;
        delete m_target->nextPendingConnection();
        const int next = int(probe.socketDescriptor()) + 1;
        probe.abort();
        if (next >= 3 && !isOpen(next))
            return next;
    }
    return -1;
}

// The control: the proxies relay data both ways and a close in either
// direction, to an address and to a name.
void tst_Proxy::plainSocketThroughProxy()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    QVERIFY(start(type));

    for (const QString &host : {QStringLiteral("127.0.0.1"), QStringLiteral("localhost")}) {
        const bool targetCloses = host == QStringLiteral("127.0.0.1");
        QTcpSocket client;
        const Path path = connectThroughProxy(client, host);
        QVERIFY(path.target);
        QSignalSpy clientDisconnected(&client, &QAbstractSocket::disconnected);
        QSignalSpy targetDisconnected(path.target, &QAbstractSocket::disconnected);

        client.write("request");
        QTRY_COMPARE_WITH_TIMEOUT(path.target->bytesAvailable(), qint64(7), 5000);
        QCOMPARE(path.target->readAll(), QByteArray("request"));
        const QByteArray payload = peerPayload();
        path.target->write(payload);
        QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(payload.size()), 5000);
        QCOMPARE(client.readAll(), payload);

        if (targetCloses) {
            path.target->write("last words");
            path.target->disconnectFromHost();
            QTRY_COMPARE_WITH_TIMEOUT(clientDisconnected.count(), 1, 5000);
            QCOMPARE(client.error(), QAbstractSocket::RemoteHostClosedError);
            QCOMPARE(client.readAll(), QByteArray("last words"));
        } else {
            client.write("last words");
            client.disconnectFromHost();
            QTRY_COMPARE_WITH_TIMEOUT(targetDisconnected.count(), 1, 5000);
            QCOMPARE(path.target->readAll(), QByteArray("last words"));
            QTRY_COMPARE_WITH_TIMEOUT(path.proxySide->state(), QAbstractSocket::UnconnectedState,
                                      5000);
        }
    }
}

void tst_Proxy::optionsLandOnTheRealConnection()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    QVERIFY(start(type));
    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(
            KeepAliveOptions().setIdle(7s).setInterval(3s).setProbeCount(4).setUserTimeout(
                    12345ms)));
    const Path path = connectThroughProxy(client);
    QVERIFY(path.target);

    const int real = realDescriptor(path);
    QVERIFY(real >= 0);
    qInfo("socketDescriptor() %lld, client end of the connection to the proxy: descriptor %d",
          qint64(client.socketDescriptor()), real);
    if (DeadPeerTest::publicApiOnly()) {
        // Public API only: socketDescriptor() is not this connection, the
        // real one is out of reach, and nothing is touched.
        QCOMPARE(kernelOptions(real),
                 QStringLiteral("SO_KEEPALIVE 0, TCP_KEEPIDLE 7200 s, TCP_KEEPINTVL 75 s, "
                                "TCP_KEEPCNT 9, TCP_USER_TIMEOUT 0 ms"));
        QCOMPARE(client.keepAliveError(), KeepAliveSocket::KeepAliveError::OptionRefused);
        QVERIFY2(client.keepAliveErrorString().contains(QLatin1String("public API only")),
                 qPrintable(client.keepAliveErrorString()));
        QVERIFY(client.effectiveKeepAliveOptions().isEmpty());
        return;
    }
    const QString expected =
            QStringLiteral("SO_KEEPALIVE 1, TCP_KEEPIDLE 7 s, TCP_KEEPINTVL 3 s, TCP_KEEPCNT 4, "
                           "TCP_USER_TIMEOUT 12345 ms");
    QCOMPARE(kernelOptions(real), expected);
    QCOMPARE(libraryOptions(client.effectiveKeepAliveOptions()), kernelOptions(real));
    QCOMPARE(client.keepAliveError(), KeepAliveSocket::KeepAliveError::NoError);
    QCOMPARE(client.keepAliveErrorString(), QString());
    const ConnectionHealth health = client.connectionHealth();
    QVERIFY2(health.isValid(), qPrintable(describe(health)));
    QCOMPARE(health.state, ConnectionHealth::TcpState::Established);
}

void tst_Proxy::unrelatedSocketWithTheCounterNumberUntouched()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    QVERIFY(start(type));

    // An unrelated TCP connection of this process: keepalive off, no user timeout.
    QTcpServer otherServer;
    QVERIFY(otherServer.listen(QHostAddress::LocalHost, 0));
    QTcpSocket other;
    other.connectToHost(QHostAddress::LocalHost, otherServer.serverPort());
    QVERIFY(other.waitForConnected(5000));
    int unrelated = int(other.socketDescriptor());
    QVERIFY(setIntOption(unrelated, SOL_SOCKET, SO_KEEPALIVE, 0));
    QVERIFY(setIntOption(unrelated, IPPROTO_TCP, TCP_USER_TIMEOUT, 0));
    const QString untouched = kernelOptions(unrelated);
    QVERIFY2(untouched.startsWith(QStringLiteral("SO_KEEPALIVE 0,"))
                     && untouched.endsWith(QStringLiteral("TCP_USER_TIMEOUT 0 ms")),
             qPrintable(untouched));

    // SOCKS5: the unrelated socket also answers to the number the proxied
    // socket will report (a dup2() of it; closed at the end, after the client).
    int reserved = -1;
    const auto closeReserved = qScopeGuard([&] {
        if (reserved >= 0)
            ::close(reserved);
    });
    if (type == QNetworkProxy::Socks5Proxy) {
        const int next = reserveNextSocks5Number();
        QVERIFY2(next >= 3, "no free descriptor number for Qt's next SOCKS5 socket");
        QVERIFY2(::dup2(unrelated, next) == next, std::strerror(errno));
        reserved = unrelated = next;
        QCOMPARE(kernelOptions(unrelated), untouched);
    }

    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    const Path path = connectThroughProxy(client);
    QVERIFY(path.target);
    if (type == QNetworkProxy::Socks5Proxy) {
        QVERIFY2(client.socketDescriptor() == reserved,
                 qPrintable(QStringLiteral("Qt's SOCKS5 engine numbered this socket %1, not %2 as "
                                           "Qt 6.4 does: its numbering differs")
                                    .arg(client.socketDescriptor())
                                    .arg(reserved)));
    } else {
        // Qt 6.4's HTTP engine reports its inner socket's descriptor, which no
        // unrelated file can have while connected.
        QCOMPARE(client.socketDescriptor(), qintptr(realDescriptor(path)));
    }

    // Options applied at connect, traffic, then options applied and read while connected.
    QCOMPARE(kernelOptions(unrelated), untouched);
    client.write("ping");
    QTRY_COMPARE_WITH_TIMEOUT(path.target->bytesAvailable(), qint64(4), 5000);
    path.target->write(path.target->readAll());
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(4), 5000);
    // Refused in the public-API-only mode: the real connection is out of reach.
    QCOMPARE(
            client.setKeepAliveOptions(
                    KeepAliveOptions().setIdle(60s).setInterval(10s).setProbeCount(3).setUserTimeout(
                            90000ms)),
            !DeadPeerTest::publicApiOnly());
    client.effectiveKeepAliveOptions();
    client.connectionHealth();
    QCOMPARE(kernelOptions(unrelated), untouched);
    QCOMPARE(other.state(), QAbstractSocket::ConnectedState);
}

// A pulled cable between the client and the proxy: the kernel's keepalive on
// the real connection ends it, and the application hears of it.
void tst_Proxy::deadProxyDetected()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    QVERIFY(start(type));
    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    const Path path = connectThroughProxy(client);
    QVERIFY(path.target);
    Watch watch(&client);

    // One round trip; the proxy's last bytes acknowledged (else its
    // retransmissions would refresh the client's keepalive timer).
    connect(path.target, &QIODevice::readyRead, path.target,
            [target = path.target] { target->write(target->readAll()); });
    client.write("ping");
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(4), 5000);
    watch.clock.start();
    QCOMPARE(client.readAll(), QByteArray("ping"));
    // The target's last words, relayed and left unread by the application.
    path.target->write(peerPayload());
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(peerPayload().size()), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(unacknowledgedBytes(path.proxySide->socketDescriptor()), 0, 5000);
    const qint64 silencedAt = watch.clock.elapsed();
    const quint16 localPort = path.proxySide->peerPort();
    QString message;
    QVERIFY2(QtKeepAliveTesting::silence(path.proxySide, &message), qPrintable(message));

    if (DeadPeerTest::publicApiOnly()) {
        // Public API only: no keepalive on the real connection, and Qt's
        // proxy engines ignore its timeout; the socket stays connected, as a
        // plain QTcpSocket does.
        QTest::qWait(int(boundMs()) + 2000);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        return;
    }
    // Not QTRY_*: a failing one waits three times as long.
    if (!QTest::qWaitFor([&] { return !watch.deadPeerSpy.isEmpty(); }, 20000)) {
        const bool realConnectionOpen = !descriptorsOf(localPort, m_proxy->port()).isEmpty();
        QFAIL(qPrintable(QStringLiteral("no deadPeer() within 20 s of the last traffic; client %1, "
                                        "events [%2]; its connection to the proxy is %3")
                                 .arg(stateName(client.state()), watch.events.join(u' '),
                                      realConnectionOpen ? QStringLiteral("still open")
                                                         : QStringLiteral("closed"))));
    }
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    qInfo("dead proxy connection: deadPeer after %lld ms from the last traffic (silenced at %lld "
          "ms), bound %lld ms; events %s; error %d \"%s\"",
          watch.deadPeerAt, silencedAt, boundMs(), qPrintable(watch.events.join(u' ')),
          int(watch.error), qPrintable(watch.errorString));
    QCOMPARE(watch.reasonArgument, Reason::KeepAliveTimeout);
    QCOMPARE(client.deadPeerReason(), Reason::KeepAliveTimeout);
    QVERIFY2(watch.events.indexOf(QStringLiteral("deadPeer"))
                     < watch.events.indexOf(QStringLiteral("disconnected")),
             qPrintable(watch.events.join(u' ')));
    QVERIFY2(watch.deadPeerAt >= boundMs() * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(watch.error, QAbstractSocket::SocketTimeoutError);
    QCOMPARE(watch.errorString,
             QStringLiteral("peer did not answer 2 keepalive probes (idle 1 s, interval 1 s)"));
    QCOMPARE(watch.peekedAtDeadPeer, peerPayload());
    QCOMPARE(watch.readAtDisconnected, peerPayload());

    QTest::qWait(500);
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    QCOMPARE(watch.disconnectedSpy.count(), 1);
}

// A RST from the proxy reaches the outer socket exactly like the proxy's
// orderly close (RemoteHostClosedError, read path); only the real connection
// underneath tells them apart.
void tst_Proxy::proxyResetIsConnectionReset()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    QVERIFY(start(type));
    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    const Path path = connectThroughProxy(client);
    QVERIFY(path.target);
    Watch watch(&client);

    // The target's last bytes, relayed, in the client's buffer (unread by the
    // application) and acknowledged to the proxy, whose RST then cannot
    // discard them on the way.
    const QByteArray payload = peerPayload();
    path.target->write(payload);
    QTRY_VERIFY_WITH_TIMEOUT(client.bytesAvailable() == payload.size()
                                     && unacknowledgedBytes(path.proxySide->socketDescriptor()) == 0,
                             5000);
    QString message;
    watch.clock.start();
    QVERIFY2(QtKeepAliveTesting::resetConnection(path.proxySide, &message), qPrintable(message));

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    qInfo("proxy reset: events %s; error %d \"%s\"", qPrintable(watch.events.join(u' ')),
          int(watch.error), qPrintable(watch.errorString));
    if (DeadPeerTest::publicApiOnly()) {
        // Public API only: what Qt says, a closed connection, bytes kept.
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
        QCOMPARE(watch.readAtDisconnected, payload);
        return;
    }
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
}

void tst_Proxy::orderlyCloseThroughProxy()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    QVERIFY(start(type));
    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    const Path path = connectThroughProxy(client);
    QVERIFY(path.target);
    Watch watch(&client);

    path.target->write(peerPayload());
    path.target->disconnectFromHost();

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("errorOccurred"), QStringLiteral("disconnected")}));
    QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(watch.readAtDisconnected, peerPayload());
    QCOMPARE(client.deadPeerReason(), Reason::None);

    // Past the bound: a closed connection has nothing left to time out.
    QTest::qWait(int(boundMs()) + 1000);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), 1);
    QCOMPARE(watch.disconnectedSpy.count(), 1);
    QCOMPARE(client.deadPeerReason(), Reason::None);
}

QTEST_GUILESS_MAIN(tst_Proxy)
#include "tst_proxy.moc"
