// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// A WebSocket server on a KeepAliveServer, set up as
// examples/keepalive-websocket-server does: the KeepAliveServer (for wss://
// a KeepAliveSslServer) hands every client to a QWebSocketServer that does
// not listen (handleConnection()), and every QWebSocket gets a
// KeepAliveHeartbeat and echoes text. The clients are a third party's:
// Python's websockets package (wsclients.py, next to this file), which
// answers WebSocket pings by itself and pings nothing.
//
// - a client behind a pulled cable (its own network namespace, its end of a
//   veth pair taken down; root only): lost by keepalive within its bound,
//   not by the heartbeat (60 s), then the QWebSocket's disconnected();
// - a client process stopped with SIGSTOP, ws:// and wss://: lost with
//   HeartbeatTimeout within the heartbeat's bound, then disconnected();
//   keepalive alone (a second server without a heartbeat) sees nothing;
// - 500 clients in 10 processes, one process stopped: exactly its 50
//   connections are lost, the other 450 still echo;
// - the heartbeats' round-trip times on loopback;
// - the example program itself, and its refusal of bad arguments.
//
// Without Python's websockets package (or, for the namespaces, root and
// `ip`) a test skips, unless CI is "true": there a skip would hide a
// regression, so it fails.

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>
#include <KeepAliveSslServer>

#include <QtCore/QElapsedTimer>
#include <QtCore/QLibraryInfo>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QScopeGuard>
#include <QtCore/QSet>
#include <QtCore/QVersionNumber>
#include <QtTest/QTest>
#include <QtWebSockets/QWebSocket>
#include <QtWebSockets/QWebSocketServer>

#include "../../shared/iproute.h"
#include "../../shared/pythonpeer.h"
#include "../../shared/tlsfixture.h"

#include <algorithm>
#include <memory>
#include <vector>

#include <csignal>
#include <sys/types.h>

using namespace std::chrono;
using namespace std::chrono_literals;
using QtKeepAlive::ClientLossReason;

namespace {

const QString ClientScript = QStringLiteral(WSCLIENTS_SCRIPT);

// Idle 1 s, interval 1 s, 2 probes: the kernel gives up 3 s after the last ACK.
const KeepAliveOptions ShortKeepAlive =
        KeepAliveOptions().setIdle(1s).setInterval(1s).setProbeCount(2);
constexpr qint64 KeepAliveBoundMs = 3000;
// Waits for what the test does not time (a process starting, connections opening).
constexpr int StartTimeoutMs = 30000;

//! A started wsclients.py; its reports are collected as they arrive.
class Clients
{
public:
    Clients(const QString &program, const QStringList &arguments)
    {
        QObject::connect(&process, &QProcess::readyReadStandardOutput,
                         [this] { out += process.readAllStandardOutput(); });
        QObject::connect(&process, &QProcess::readyReadStandardError,
                         [this] { err += process.readAllStandardError(); });
        process.start(program, arguments);
    }

    void command(const char *line)
    {
        process.write(line);
        process.write("\n");
    }
    bool isReady() const { return out.startsWith("ready ") || out.contains("\nready "); }
    bool isRunning() const { return process.state() != QProcess::NotRunning; }
    //! The local ports of the connections, in the order opened.
    QList<quint16> ports() const { return numbers("connected"); }
    //! The ports of the connections that received an echo.
    QList<quint16> echoed() const { return numbers("echo"); }
    qint64 pid() const { return process.processId(); }
    QByteArray transcript() const
    {
        return "\n--- client stdout ---\n" + out + "--- client stderr ---\n" + err + "---";
    }

    QProcess process;
    QByteArray out;
    QByteArray err;

private:
    QList<quint16> numbers(const QByteArray &report) const
    {
        QList<quint16> result;
        const QList<QByteArray> lines = out.split('\n');
        for (const QByteArray &line : lines) {
            const QList<QByteArray> words = line.split(' ');
            if (words.size() >= 2 && words.constFirst() == report)
                result.append(quint16(words.at(1).toUInt()));
        }
        return result;
    }
};

//! What happened to one client, in the server's clock (ms).
struct Client
{
    QPointer<QWebSocket> webSocket;
    QPointer<KeepAliveHeartbeat> heartbeat;
    std::optional<ClientLossReason> lossReason;
    QString lossMessage;
    qint64 lostAt = -1;
    qint64 disconnectedAt = -1;
    int lostOrder = -1;
    int disconnectedOrder = -1;
    qint64 lastPongAt = -1;
    int roundTrips = 0;
    int pings = 0;
    qint64 binaryAt = -1;
    microseconds initialRoundTripTime{0};
};

/*!
    The example's server in-process, recording every event per client (by its
    port). A heartbeat interval of 0 means no heartbeat.
*/
class EchoServer : public QObject
{
public:
    //! The KeepAliveServer or KeepAliveSslServer (its clients are its children).
    QTcpServer *tcp() const { return m_server.get(); }
    struct Settings
    {
        bool tls = false;
        milliseconds heartbeat = 1s;
        int maxMissed = 2;
        std::optional<milliseconds> jitter = 0ms;
    };

    explicit EchoServer(const Settings &settings)
        : m_settings(settings),
          m_webSockets(QStringLiteral("tst_websocketserver"),
                       settings.tls ? QWebSocketServer::SecureMode : QWebSocketServer::NonSecureMode)
    {
        m_clock.start();
        const auto lost = [this](QAbstractSocket *socket, ClientLossReason reason) {
            Client &client = m_clients[socket->peerPort()];
            client.lossReason = reason;
            client.lossMessage = socket->errorString();
            client.lostAt = m_clock.elapsed();
            client.lostOrder = ++m_order;
        };
        if (settings.tls) {
            auto *server = new KeepAliveSslServer;
            m_server.reset(server);
            QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
            configuration.setLocalCertificate(DeadPeerTest::TlsCredentials::instance().certificate);
            configuration.setPrivateKey(DeadPeerTest::TlsCredentials::instance().key);
            configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
            server->setSslConfiguration(configuration);
            server->setKeepAliveOptions(ShortKeepAlive);
            connect(server, &KeepAliveSslServer::clientLost, this, lost);
        } else {
            auto *server = new KeepAliveServer;
            m_server.reset(server);
            server->setKeepAliveOptions(ShortKeepAlive);
            connect(server, &KeepAliveServer::clientLost, this, lost);
        }
        connect(m_server.get(), &QTcpServer::pendingConnectionAvailable, this, [this] {
            while (QTcpSocket *socket = m_server->nextPendingConnection()) {
                connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
                m_webSockets.handleConnection(socket);
            }
        });
        connect(&m_webSockets, &QWebSocketServer::newConnection, this, [this] {
            while (QWebSocket *webSocket = m_webSockets.nextPendingConnection())
                accept(webSocket);
        });
    }

    bool listen(const QHostAddress &address = QHostAddress(QHostAddress::LocalHost))
    {
        return m_server->listen(address);
    }
    QString url() const
    {
        return QStringLiteral("%1://%2:%3/")
                .arg(m_settings.tls ? QStringLiteral("wss") : QStringLiteral("ws"),
                     m_server->serverAddress().toString())
                .arg(m_server->serverPort());
    }
    qint64 elapsed() const { return m_clock.elapsed(); }
    //! Clients that completed the WebSocket handshake, by peer port.
    const QHash<quint16, Client> &clients() const { return m_clients; }
    Client client(quint16 port) const { return m_clients.value(port); }
    int clientCount() const
    {
        if (auto *server = qobject_cast<KeepAliveServer *>(m_server.get()))
            return server->clientCount();
        return static_cast<KeepAliveSslServer *>(m_server.get())->clientCount();
    }
    int lostCount() const
    {
        return int(std::count_if(m_clients.cbegin(), m_clients.cend(),
                                 [](const Client &client) { return client.lostAt >= 0; }));
    }
    int openCount() const
    {
        return int(std::count_if(m_clients.cbegin(), m_clients.cend(), [](const Client &client) {
            return client.webSocket && client.webSocket->state() == QAbstractSocket::ConnectedState;
        }));
    }

private:
    void accept(QWebSocket *webSocket)
    {
        webSocket->setParent(&m_webSockets);
        const quint16 port = webSocket->peerPort();
        Client &client = m_clients[port];
        client.webSocket = webSocket;
        if (m_settings.heartbeat > 0ms) {
            auto *heartbeat = new KeepAliveHeartbeat(webSocket);
            QVERIFY(heartbeat->setInterval(m_settings.heartbeat));
            QVERIFY(heartbeat->setMaxMissed(m_settings.maxMissed));
            if (m_settings.jitter)
                QVERIFY(heartbeat->setJitter(*m_settings.jitter));
            client.heartbeat = heartbeat;
            client.initialRoundTripTime = heartbeat->roundTripTime();
            connect(heartbeat, &KeepAliveHeartbeat::roundTripTimeChanged, this, [this, port] {
                Client &client = m_clients[port];
                client.lastPongAt = m_clock.elapsed();
                ++client.roundTrips;
            });
            connect(heartbeat, &KeepAliveHeartbeat::pingSent, this,
                    [this, port] { ++m_clients[port].pings; });
        }
        connect(webSocket, &QWebSocket::textMessageReceived, webSocket,
                &QWebSocket::sendTextMessage);
        connect(webSocket, &QWebSocket::binaryMessageReceived, this,
                [this, port] { m_clients[port].binaryAt = m_clock.elapsed(); });
        connect(webSocket, &QWebSocket::disconnected, this, [this, port, webSocket] {
            Client &client = m_clients[port];
            client.disconnectedAt = m_clock.elapsed();
            client.disconnectedOrder = ++m_order;
            webSocket->deleteLater();
        });
    }

    const Settings m_settings;
    // The records outlive the servers: QWebSockets report their closing as they go.
    QElapsedTimer m_clock;
    QHash<quint16, Client> m_clients;
    int m_order = 0;
    // Before the QWebSocketServer: its QWebSockets go first.
    std::unique_ptr<QTcpServer> m_server;
    QWebSocketServer m_webSockets;
};

// The name of this suite's network namespace.
const QString NamespacePrefix = QStringLiteral("qtkaws");

} // namespace

class tst_WebSocketServer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void pulledCableIsKeepAlivesToFind();
    void stoppedClientIsHeartbeatsToFind_data();
    void stoppedClientIsHeartbeatsToFind();
    void oneStoppedProcessAmong500Clients();
    void roundTripTimes();
    void webSocketDeletedWhileConnected();
    void exampleReportsStoppedClient_data();
    void exampleReportsStoppedClient();
    void exampleRefusesBadArguments_data();
    void exampleRefusesBadArguments();

private:
    Clients *startClients(const QStringList &arguments, const QString &netns = {})
    {
        QStringList command{m_python, ClientScript};
        QString program = m_python;
        if (!netns.isEmpty()) {
            program = IpRoute::program();
            command.prepend(netns);
            command = QStringList{QStringLiteral("netns"), QStringLiteral("exec")} + command;
        } else {
            command.removeFirst();
        }
        m_clients.push_back(std::make_unique<Clients>(program, command + arguments));
        return m_clients.back().get();
    }
    //! SIGCONT and kill every client process (and the example), also after a failure.
    void stopProcesses();

    QString m_python;
    std::vector<std::unique_ptr<Clients>> m_clients;
    std::unique_ptr<QProcess> m_example;
    bool m_namespace = false;
};

void tst_WebSocketServer::initTestCase()
{
    FIND_PYTHON_WITH_WEBSOCKETS(m_python);
    VERIFY_TLS_AVAILABLE();
    if (IpRoute::namespacesUnavailable().isEmpty())
        IpRoute::removeNamespaces(NamespacePrefix);
}

void tst_WebSocketServer::init()
{
    if (m_namespace)
        IpRoute::removeNamespaces(NamespacePrefix);
    m_namespace = false;
}

void tst_WebSocketServer::stopProcesses()
{
    for (const auto &clients : m_clients) {
        if (!clients->isRunning())
            continue;
        ::kill(pid_t(clients->pid()), SIGCONT);
        clients->process.kill();
        clients->process.waitForFinished(5000);
    }
    m_clients.clear();
    if (m_example && m_example->state() != QProcess::NotRunning) {
        ::kill(pid_t(m_example->processId()), SIGCONT);
        m_example->kill();
        m_example->waitForFinished(5000);
    }
    m_example.reset();
}

void tst_WebSocketServer::cleanup()
{
    stopProcesses();
    if (m_namespace)
        IpRoute::removeNamespaces(NamespacePrefix);
    m_namespace = false;
}

void tst_WebSocketServer::pulledCableIsKeepAlivesToFind()
{
    SKIP_WITHOUT_NAMESPACES();

    // This namespace's end kwsh<pid> ──veth── kwsc<pid> in the client's namespace,
    // a /30 in 10.100.0.0 .. 10.199.0.255 chosen by the pid (runs in parallel do not
    // collide).
    const qint64 pid = QCoreApplication::applicationPid();
    const QString netns = IpRoute::namespaceName(NamespacePrefix, 'c', pid);
    const QString clientEnd = QStringLiteral("kwsc%1").arg(pid);
    const int base = int(pid % 64) * 4;
    const QString prefix = QStringLiteral("10.%1.0.").arg(100 + (pid / 64) % 100);
    const QString hostIp = prefix + QString::number(base + 1);
    const QString clientIp = prefix + QString::number(base + 2);
    m_namespace = true;
    QString error;
    QVERIFY2(IpRoute::runAll(
                     IpRoute::vethLinkCommands({QString(), QStringLiteral("kwsh%1").arg(pid),
                                                hostIp + QStringLiteral("/30")},
                                               {netns, clientEnd, clientIp + QStringLiteral("/30")},
                                               QStringLiteral("02:14:00:00:09")),
                     &error),
             qPrintable(error));

    // The heartbeat would need 60 s x 3: keepalive has to find this one.
    EchoServer server({false, 60s, 2, std::nullopt});
    QVERIFY(server.listen(QHostAddress(hostIp)));
    Clients *clients = startClients({server.url()}, netns);
    QTRY_VERIFY2_WITH_TIMEOUT(clients->isReady(), clients->transcript(), StartTimeoutMs);
    const quint16 port = clients->ports().constFirst();
    QTRY_VERIFY_WITH_TIMEOUT(server.client(port).webSocket, StartTimeoutMs);
    QCOMPARE(server.client(port).webSocket->peerAddress(), QHostAddress(clientIp));

    // The client's last word (a binary message, which the server does not
    // answer: nothing of the server's is left unacknowledged), then its
    // cable is pulled. The kernel counts from the last bytes received.
    clients->command("poke");
    QTRY_VERIFY_WITH_TIMEOUT(server.client(port).binaryAt >= 0, StartTimeoutMs);
    QVERIFY2(IpRoute::run(QStringLiteral("-n %1 link set %2 down").arg(netns, clientEnd), &error),
             qPrintable(error));
    const qint64 pulledAt = server.elapsed();

    QTRY_VERIFY_WITH_TIMEOUT(server.client(port).lostAt >= 0, KeepAliveBoundMs + 10000);
    const Client lost = server.client(port);
    const qint64 detection = lost.lostAt - pulledAt;
    qInfo("pulled cable: clientLost(%s) %lld ms after the link went down (%lld ms after the "
          "last bytes received); keepalive bound %lld ms",
          QMetaEnum::fromType<ClientLossReason>().valueToKey(int(*lost.lossReason)), detection,
          lost.lostAt - lost.binaryAt, KeepAliveBoundMs);
    QCOMPARE(*lost.lossReason, ClientLossReason::KeepAliveTimeout);
    QVERIFY2(lost.lossMessage.contains(QStringLiteral("keepalive probes")),
             qPrintable(lost.lossMessage));
    QVERIFY2(detection >= KeepAliveBoundMs - 200 && detection <= KeepAliveBoundMs + 1000,
             qPrintable(QStringLiteral("lost %1 ms after the link went down; bound %2 ms")
                                .arg(detection)
                                .arg(KeepAliveBoundMs)));
    QTRY_VERIFY_WITH_TIMEOUT(server.client(port).disconnectedAt >= 0, 5000);
    QVERIFY(server.client(port).disconnectedOrder > server.client(port).lostOrder);
    QTRY_COMPARE_WITH_TIMEOUT(server.clientCount(), 0, 5000);
}

void tst_WebSocketServer::stoppedClientIsHeartbeatsToFind_data()
{
    QTest::addColumn<bool>("tls");
    QTest::newRow("ws") << false;
    QTest::newRow("wss") << true;
}

void tst_WebSocketServer::stoppedClientIsHeartbeatsToFind()
{
    QFETCH(bool, tls);
    // Interval 1 s, 2 missed, no jitter: 3 s after the last pong.
    EchoServer watched({tls, 1s, 2, 0ms});
    EchoServer keepAliveOnly({tls, 0ms, 2, 0ms});
    QVERIFY(watched.listen());
    QVERIFY(keepAliveOnly.listen());
    QStringList arguments{watched.url(), keepAliveOnly.url()};
    if (tls)
        arguments += {QStringLiteral("--cafile"),
                      DeadPeerTest::TlsCredentials::instance().certificatePath};
    Clients *clients = startClients(arguments);
    QTRY_VERIFY2_WITH_TIMEOUT(clients->isReady(), clients->transcript(), StartTimeoutMs);
    const quint16 watchedPort = clients->ports().at(0);
    const quint16 unwatchedPort = clients->ports().at(1);
    QTRY_VERIFY_WITH_TIMEOUT(watched.client(watchedPort).webSocket, StartTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(keepAliveOnly.client(unwatchedPort).webSocket, StartTimeoutMs);
    const milliseconds bound = watched.client(watchedPort).heartbeat->detectionBound();
    QCOMPARE(bound, 3000ms);
    // Pings answered by the package itself, before the stop.
    QTRY_VERIFY_WITH_TIMEOUT(watched.client(watchedPort).roundTrips >= 2, StartTimeoutMs);

    QCOMPARE(::kill(pid_t(clients->pid()), SIGSTOP), 0);
    const qint64 stoppedAt = watched.elapsed();
    const qint64 stoppedAtUnwatched = keepAliveOnly.elapsed();

    QTRY_VERIFY_WITH_TIMEOUT(watched.client(watchedPort).lostAt >= 0, bound.count() + 10000);
    const Client lost = watched.client(watchedPort);
    const qint64 sinceStop = lost.lostAt - stoppedAt;
    const qint64 sinceLife = lost.lostAt - lost.lastPongAt;
    qInfo("%s stopped client: clientLost(%s) %lld ms after SIGSTOP, %lld ms after the last pong; "
          "bound %lld ms",
          tls ? "wss" : "ws",
          QMetaEnum::fromType<ClientLossReason>().valueToKey(int(*lost.lossReason)), sinceStop,
          sinceLife, qint64(bound.count()));
    QCOMPARE(*lost.lossReason, ClientLossReason::HeartbeatTimeout);
    QCOMPARE(lost.lossMessage,
             QStringLiteral("peer did not answer 2 application heartbeats (interval 1 s)"));
    // The heartbeat's rule: dead one bound after the last life, the last pong
    // before the stop, which came at most an interval (and a round trip) before it.
    QVERIFY2(sinceLife >= bound.count() - 100 && sinceLife <= bound.count() + 500,
             qPrintable(QStringLiteral("lost %1 ms after the last pong").arg(sinceLife)));
    QVERIFY2(sinceStop >= bound.count() - 1100 && sinceStop <= bound.count() + 500,
             qPrintable(QStringLiteral("lost %1 ms after SIGSTOP").arg(sinceStop)));
    QTRY_VERIFY_WITH_TIMEOUT(watched.client(watchedPort).disconnectedAt >= 0, 5000);
    QVERIFY(watched.client(watchedPort).disconnectedOrder > lost.lostOrder);
    QTRY_COMPARE_WITH_TIMEOUT(watched.clientCount(), 0, 5000);

    // Keepalive alone: the stopped process's kernel answers every probe.
    QTest::qWait(int(2 * bound.count() - (keepAliveOnly.elapsed() - stoppedAtUnwatched)));
    const Client unwatched = keepAliveOnly.client(unwatchedPort);
    QCOMPARE(unwatched.lostAt, -1);
    QVERIFY(unwatched.webSocket);
    QCOMPARE(unwatched.webSocket->state(), QAbstractSocket::ConnectedState);
    QCOMPARE(keepAliveOnly.clientCount(), 1);
}

void tst_WebSocketServer::oneStoppedProcessAmong500Clients()
{
    constexpr int Processes = 10;
    constexpr int PerProcess = 50;
    constexpr int Stopped = 3;
    // Default jitter (10 %): the 500 heartbeats do not ping in lockstep.
    EchoServer server({false, 1s, 2, std::nullopt});
    QVERIFY(server.listen());
    QElapsedTimer setUp;
    setUp.start();
    std::vector<Clients *> processes;
    for (int i = 0; i < Processes; ++i)
        processes.push_back(startClients(
                {QStringLiteral("--count"), QString::number(PerProcess), server.url()}));
    for (Clients *clients : processes)
        QTRY_VERIFY2_WITH_TIMEOUT(clients->isReady(), clients->transcript(), StartTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(server.openCount(), Processes * PerProcess, StartTimeoutMs);
    // Every heartbeat has had its pong.
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(server.clients().cbegin(), server.clients().cend(),
                                         [](const Client &client) { return client.roundTrips > 0; }),
                             StartTimeoutMs);
    qInfo("500 clients connected and answering pings after %lld ms", setUp.elapsed());

    const QList<quint16> stoppedPorts = processes[Stopped]->ports();
    QCOMPARE(stoppedPorts.size(), PerProcess);
    QCOMPARE(::kill(pid_t(processes[Stopped]->pid()), SIGSTOP), 0);
    const qint64 stoppedAt = server.elapsed();
    const milliseconds bound = server.client(stoppedPorts.constFirst()).heartbeat->detectionBound();

    QTRY_VERIFY_WITH_TIMEOUT(server.lostCount() >= PerProcess, bound.count() + 10000);
    const qint64 allLostAfter = server.elapsed() - stoppedAt;
    // Nobody else, also a while later.
    QTest::qWait(int(bound.count()));
    QCOMPARE(server.lostCount(), PerProcess);
    qint64 first = std::numeric_limits<qint64>::max();
    qint64 last = 0;
    for (quint16 port : stoppedPorts) {
        const Client client = server.client(port);
        QVERIFY2(client.lostAt >= 0, qPrintable(QStringLiteral("port %1 not lost").arg(port)));
        QCOMPARE(*client.lossReason, ClientLossReason::HeartbeatTimeout);
        first = std::min(first, client.lostAt - stoppedAt);
        last = std::max(last, client.lostAt - stoppedAt);
        QVERIFY(client.disconnectedAt >= client.lostAt);
    }
    qInfo("50 of 500 lost with HeartbeatTimeout %lld..%lld ms after SIGSTOP (all seen after "
          "%lld ms); bound %lld ms",
          first, last, allLostAfter, qint64(bound.count()));
    QVERIFY2(last <= bound.count() + 1000,
             qPrintable(QStringLiteral("last lost %1 ms after SIGSTOP").arg(last)));

    // The other 450 are connected and echo.
    QCOMPARE(server.openCount(), (Processes - 1) * PerProcess);
    QTRY_COMPARE_WITH_TIMEOUT(server.clientCount(), (Processes - 1) * PerProcess, 5000);
    for (int i = 0; i < Processes; ++i) {
        if (i != Stopped)
            processes[i]->command("send");
    }
    for (int i = 0; i < Processes; ++i) {
        if (i == Stopped)
            continue;
        Clients *clients = processes[i];
        QTRY_VERIFY2_WITH_TIMEOUT(clients->echoed().size() == PerProcess, clients->transcript(),
                                  10000);
        QList<quint16> echoed = clients->echoed();
        QList<quint16> ports = clients->ports();
        std::sort(echoed.begin(), echoed.end());
        std::sort(ports.begin(), ports.end());
        QCOMPARE(echoed, ports);
    }
}

void tst_WebSocketServer::roundTripTimes()
{
    EchoServer server({false, 200ms, 3, 0ms});
    QVERIFY(server.listen());
    Clients *clients = startClients({QStringLiteral("--count"), QStringLiteral("5"), server.url()});
    QTRY_VERIFY2_WITH_TIMEOUT(clients->isReady(), clients->transcript(), StartTimeoutMs);
    const QList<quint16> ports = clients->ports();
    QCOMPARE(ports.size(), 5);
    for (quint16 port : ports) {
        QTRY_VERIFY_WITH_TIMEOUT(server.client(port).roundTrips >= 3, StartTimeoutMs);
        const Client client = server.client(port);
        QCOMPARE(client.initialRoundTripTime, -1us);
        QVERIFY(client.pings >= client.roundTrips);
        const microseconds rtt = client.heartbeat->roundTripTime();
        qInfo("port %u: round trip %lld us after %d pongs", port, qint64(rtt.count()),
              client.roundTrips);
        QVERIFY2(rtt > 0us && rtt < 1s, qPrintable(QString::number(rtt.count())));
        QCOMPARE(client.heartbeat->missedCount(), 0);
    }
}

void tst_WebSocketServer::webSocketDeletedWhileConnected()
{
    // QWebSocket's destructor sends a close frame, closes the socket under it
    // and then disconnects every signal of that socket (Qt 6.4
    // QWebSocketPrivate::closeGoingAway()). The server still counts the
    // client out once the connection is gone.
    EchoServer server({false, 1s, 2, 0ms});
    QVERIFY(server.listen());
    Clients *clients = startClients({QStringLiteral("--count"), QStringLiteral("2"), server.url()});
    QTRY_VERIFY2_WITH_TIMEOUT(clients->isReady(), clients->transcript(), StartTimeoutMs);
    const QList<quint16> ports = clients->ports();
    QTRY_COMPARE_WITH_TIMEOUT(server.openCount(), 2, StartTimeoutMs);
    QCOMPARE(server.clientCount(), 2);
    delete server.client(ports.at(0)).webSocket.data();
    // Qt up to 6.8 closes the connection here (close code 1001, going away).
    // 6.11 sends the close frame and waits for the peer's, and then cuts
    // every signal connection of the socket under it (releaseConnections()
    // calls disconnect()): neither the engine nor the server hear from that
    // socket again, so the application deletes it.
    const QByteArray closed = QStringLiteral("closed %1 ").arg(ports.at(0)).toUtf8();
    if (QLibraryInfo::version() >= QVersionNumber(6, 9)) {
        for (KeepAliveSocket *socket : server.tcp()->findChildren<KeepAliveSocket *>()) {
            if (socket->peerPort() == ports.at(0))
                delete socket;
        }
    }
    QTRY_VERIFY2_WITH_TIMEOUT(clients->out.contains(closed), clients->transcript(), 5000);
    if (QLibraryInfo::version() < QVersionNumber(6, 9))
        QVERIFY2(clients->out.contains(closed + "1001"), clients->transcript());
    QTRY_COMPARE_WITH_TIMEOUT(server.clientCount(), 1, 5000);
    QCOMPARE(server.client(ports.at(0)).lostAt, -1);
    // The other one is untouched and still watched.
    const int before = server.client(ports.at(1)).roundTrips;
    QTRY_VERIFY_WITH_TIMEOUT(server.client(ports.at(1)).roundTrips > before, 5000);
}

void tst_WebSocketServer::exampleReportsStoppedClient_data()
{
    QTest::addColumn<bool>("tls");
    QTest::newRow("ws") << false;
    QTest::newRow("wss") << true;
}

void tst_WebSocketServer::exampleReportsStoppedClient()
{
#ifndef KEEPALIVE_WEBSOCKET_SERVER
    QSKIP("the examples are not built (QTKEEPALIVE_BUILD_EXAMPLES=OFF)");
#else
    QFETCH(bool, tls);
    const DeadPeerTest::TlsCredentials &credentials = DeadPeerTest::TlsCredentials::instance();
    QStringList arguments{
            QStringLiteral("--port"), QStringLiteral("0"),       QStringLiteral("--heartbeat"),
            QStringLiteral("1,2"),    QStringLiteral("--stats"), QStringLiteral("0.5"),
            QStringLiteral("-d"),     QStringLiteral("1"),       QStringLiteral("-i"),
            QStringLiteral("1"),      QStringLiteral("-c"),      QStringLiteral("2")};
    if (tls)
        arguments += {QStringLiteral("--cert"), credentials.certificatePath,
                      QStringLiteral("--key"), credentials.keyPath};
    m_example = std::make_unique<QProcess>();
    QByteArray out;
    connect(m_example.get(), &QProcess::readyReadStandardOutput, this,
            [&] { out += m_example->readAllStandardOutput(); });
    m_example->start(QStringLiteral(KEEPALIVE_WEBSOCKET_SERVER), arguments);
    const QRegularExpression listening(
            QStringLiteral("listening on 127\\.0\\.0\\.1:(\\d+) \\((wss?)\\)"));
    QTRY_VERIFY2_WITH_TIMEOUT(listening.match(QString::fromUtf8(out)).hasMatch(), out,
                              StartTimeoutMs);
    const QRegularExpressionMatch match = listening.match(QString::fromUtf8(out));
    QCOMPARE(match.captured(2), tls ? QStringLiteral("wss") : QStringLiteral("ws"));
    const QString url =
            QStringLiteral("%1://127.0.0.1:%2/").arg(match.captured(2), match.captured(1));

    QStringList clientArguments{QStringLiteral("--count"), QStringLiteral("2"), url};
    if (tls)
        clientArguments += {QStringLiteral("--cafile"), credentials.certificatePath};
    Clients *clients = startClients(clientArguments);
    QTRY_VERIFY2_WITH_TIMEOUT(clients->isReady(), clients->transcript() + out, StartTimeoutMs);
    const QList<quint16> ports = clients->ports();
    for (quint16 port : ports)
        QTRY_VERIFY2_WITH_TIMEOUT(
                out.contains(QStringLiteral("connected 127.0.0.1:%1\n").arg(port).toUtf8()), out,
                StartTimeoutMs);
    clients->command("send");
    QTRY_COMPARE_WITH_TIMEOUT(clients->echoed().size(), 2, 10000);
    // The stats line once both heartbeats have had a pong.
    QTRY_VERIFY2_WITH_TIMEOUT(
            QRegularExpression(QStringLiteral("stats: 2 client\\(s\\), round trip ms "
                                              "min/median/p90/max \\d+\\.\\d{2}/\\d+\\.\\d{2}/"
                                              "\\d+\\.\\d{2}/\\d+\\.\\d{2} over 2"))
                    .match(QString::fromUtf8(out))
                    .hasMatch(),
            out, StartTimeoutMs);

    QCOMPARE(::kill(pid_t(clients->pid()), SIGSTOP), 0);
    QElapsedTimer sinceStop;
    sinceStop.start();
    constexpr qint64 BoundMs = 3000;
    QHash<quint16, qint64> lostAfter;
    while (lostAfter.size() < ports.size() && sinceStop.elapsed() < BoundMs + 10000) {
        for (quint16 port : ports) {
            if (!lostAfter.contains(port)
                && out.contains(QStringLiteral("lost 127.0.0.1:%1 HeartbeatTimeout peer did not "
                                               "answer 2 application heartbeats (interval 1 s)\n")
                                        .arg(port)
                                        .toUtf8()))
                lostAfter.insert(port, sinceStop.elapsed());
        }
        QTest::qWait(10);
    }
    QVERIFY2(lostAfter.size() == ports.size(), out);
    for (quint16 port : ports) {
        qInfo("example (%s): lost 127.0.0.1:%u HeartbeatTimeout printed %lld ms after SIGSTOP "
              "(bound %lld ms)",
              tls ? "wss" : "ws", port, lostAfter.value(port), BoundMs);
        QVERIFY2(lostAfter.value(port) >= BoundMs - 1100 && lostAfter.value(port) <= BoundMs + 1000,
                 out);
        const QByteArray disconnected =
                QStringLiteral("disconnected 127.0.0.1:%1\n").arg(port).toUtf8();
        QTRY_VERIFY2_WITH_TIMEOUT(out.contains(disconnected), out, 5000);
        QVERIFY2(out.indexOf(disconnected)
                         > out.indexOf(QStringLiteral("lost 127.0.0.1:%1 ").arg(port).toUtf8()),
                 out);
    }
    QTRY_VERIFY2_WITH_TIMEOUT(out.contains("stats: 0 client(s)\n"), out, 5000);
    QVERIFY2(m_example->state() == QProcess::Running, out);
#endif
}

void tst_WebSocketServer::exampleRefusesBadArguments_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("message");
    QTest::newRow("heartbeat 0") << QStringList{QStringLiteral("--heartbeat"), QStringLiteral("0")}
                                 << QStringLiteral("--heartbeat 0: ");
    QTest::newRow("heartbeat -1") << QStringList{QStringLiteral("--heartbeat"), QStringLiteral("-1")}
                                  << QStringLiteral("--heartbeat -1: ");
    QTest::newRow("missed 0") << QStringList{QStringLiteral("--heartbeat"), QStringLiteral("1,0")}
                              << QStringLiteral("--heartbeat 1,0: maxMissed 0 is out of range");
    QTest::newRow("missed huge") << QStringList{QStringLiteral("--heartbeat"),
                                                QStringLiteral("10,99999999999")}
                                 << QStringLiteral("--heartbeat 10,99999999999: maxMissed "
                                                   "2147483647 is out of range");
    QTest::newRow("missed not a number")
            << QStringList{QStringLiteral("--heartbeat"), QStringLiteral("1,x")}
            << QStringLiteral("--heartbeat \"x\": not a whole number");
    QTest::newRow("port") << QStringList{QStringLiteral("--port"), QStringLiteral("70000")}
                          << QStringLiteral("--port \"70000\": not in 0..65535");
    QTest::newRow("address") << QStringList{QStringLiteral("--address"), QStringLiteral("nowhere")}
                             << QStringLiteral("--address \"nowhere\": not an IP address");
    QTest::newRow("count 0") << QStringList{QStringLiteral("-c"), QStringLiteral("0")}
                             << QStringLiteral("--count 0: ");
    QTest::newRow("cert alone") << QStringList{QStringLiteral("--cert"), QStringLiteral("x.pem")}
                                << QStringLiteral("--cert and --key go together");
    QTest::newRow("stats") << QStringList{QStringLiteral("--stats"), QStringLiteral("soon")}
                           << QStringLiteral("--stats \"soon\": not a duration");
}

void tst_WebSocketServer::exampleRefusesBadArguments()
{
#ifndef KEEPALIVE_WEBSOCKET_SERVER
    QSKIP("the examples are not built (QTKEEPALIVE_BUILD_EXAMPLES=OFF)");
#else
    QFETCH(QStringList, arguments);
    QFETCH(QString, message);
    // Should a row be accepted, the server listens on a port of its choice until killed.
    if (!arguments.contains(QStringLiteral("--port")))
        arguments += {QStringLiteral("--port"), QStringLiteral("0")};
    QProcess example;
    const auto kill = qScopeGuard([&example] {
        example.kill();
        example.waitForFinished(5000);
    });
    example.start(QStringLiteral(KEEPALIVE_WEBSOCKET_SERVER), arguments);
    QVERIFY(example.waitForFinished(StartTimeoutMs));
    const QString errors = QString::fromUtf8(example.readAllStandardError());
    const QString output = QString::fromUtf8(example.readAllStandardOutput());
    QCOMPARE(example.exitStatus(), QProcess::NormalExit);
    QVERIFY2(example.exitCode() == 2, qPrintable(errors));
    QVERIFY2(errors.contains(message), qPrintable(errors));
    QVERIFY2(errors.trimmed().count(QLatin1Char('\n')) == 0, qPrintable(errors));
    QVERIFY2(!output.contains(QStringLiteral("listening")), qPrintable(output));
#endif
}

QTEST_GUILESS_MAIN(tst_WebSocketServer)
#include "tst_websocketserver.moc"
