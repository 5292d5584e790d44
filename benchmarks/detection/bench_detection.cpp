// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// How long after a peer falls silent each contender reports it, against the
// bound it was configured for:
//
//   - a silently dead peer (every segment dropped: QtKeepAliveTesting::silence()
//     on the peer's socket), idle and with data in flight, for
//     KeepAliveSocket, a plain QTcpSocket and a QTcpSocket with keepalive
//     set by hand (SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT:
//     what Qt 6.11's keepalive options give);
//   - a hung peer process (SIGSTOP: its kernel still acknowledges), for
//     KeepAliveHeartbeat and for keepalive alone.
//
// The contenders of a scenario run side by side in each repetition (all
// peers are silenced at the same moment); a contender that reports nothing
// within the cap is shown as "> cap", next to the kernel's worst case.

#include <KeepAliveHeartbeat>
#include <KeepAliveSocket>
#include <keepalivetesting.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QLoggingCategory>
#include <QtCore/QProcess>
#include <QtCore/QTextStream>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpServer>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

KeepAliveOptions chosenOptions()
{
    return KeepAliveOptions().setIdle(1s).setInterval(1s).setProbeCount(2);
}

// The kernel's retransmission limit for a loopback connection (RTO 200 ms):
// tcp_model_timeout() with tcp_retries2 from /proc.
double retransmissionLimitSeconds()
{
    QFile file(QStringLiteral("/proc/sys/net/ipv4/tcp_retries2"));
    int retries = 15;
    if (file.open(QIODevice::ReadOnly))
        retries = QString::fromLatin1(file.readAll()).trimmed().toInt();
    const double base = 0.2;
    const double maximum = 120.0;
    const int threshold = int(std::log2(maximum / base));
    if (retries <= threshold)
        return ((2 << retries) - 1) * base;
    return ((2 << threshold) - 1) * base + (retries - threshold) * maximum;
}

double median(std::vector<double> values)
{
    std::sort(values.begin(), values.end());
    const size_t middle = values.size() / 2;
    return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

struct Contender
{
    QString name;
    QString bound;                // what the contender promises, as text
    double boundSeconds;          // 0: none
    double target;                // highest acceptable detection / bound; 0: none
    std::vector<double> detected; // seconds; < 0: not within the cap
};

struct Client
{
    std::unique_ptr<QTcpSocket> socket;
    QTcpSocket *peer = nullptr;
    qint64 startAt = -1;
    qint64 detectedAt = -1;
};

void setKeepAliveByHand(QTcpSocket *socket, const KeepAliveOptions &options)
{
    const int descriptor = int(socket->socketDescriptor());
    const int idle = int(duration_cast<seconds>(options.idle()).count());
    const int interval = int(duration_cast<seconds>(options.interval()).count());
    const int count = options.probeCount();
    socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
    ::setsockopt(descriptor, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(descriptor, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(descriptor, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// One repetition of a silent-peer scenario: all three contenders at once.
void silentPeerRound(std::vector<Contender> &contenders, bool dataInFlight, milliseconds cap)
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        qFatal("listen failed");
    std::vector<Client> clients(3);
    auto *keepAlive = new KeepAliveSocket;
    keepAlive->setKeepAliveOptions(chosenOptions());
    clients[0].socket.reset(keepAlive);
    clients[1].socket = std::make_unique<QTcpSocket>();
    clients[2].socket = std::make_unique<QTcpSocket>();
    for (Client &client : clients) {
        client.socket->connectToHost(QHostAddress::LocalHost, server.serverPort());
        if (!client.socket->waitForConnected(5000) || !server.waitForNewConnection(5000))
            qFatal("connect failed");
        client.peer = server.nextPendingConnection();
    }
    setKeepAliveByHand(clients[2].socket.get(), chosenOptions());

    QElapsedTimer clock;
    clock.start();
    QEventLoop loop;
    int pending = int(clients.size());
    auto detected = [&](Client &client) {
        if (client.detectedAt >= 0)
            return;
        client.detectedAt = clock.elapsed();
        if (--pending == 0)
            loop.quit();
    };
    QObject::connect(keepAlive, &KeepAliveSocket::deadPeer, &loop, [&] { detected(clients[0]); });
    for (size_t i = 1; i < clients.size(); ++i)
        QObject::connect(clients[i].socket.get(), &QAbstractSocket::errorOccurred, &loop,
                         [&, i] { detected(clients[i]); });
    for (Client &client : clients) {
        QString problem;
        if (!QtKeepAliveTesting::silence(client.peer, &problem))
            qFatal("%s", qPrintable(problem));
        client.startAt = clock.elapsed();
    }
    if (dataInFlight) {
        // The bound counts from the first unacknowledged byte.
        for (Client &client : clients) {
            client.socket->write("a request that never arrives");
            client.socket->flush();
            client.startAt = clock.elapsed();
        }
    }
    QTimer::singleShot(cap, &loop, &QEventLoop::quit);
    loop.exec();
    for (size_t i = 0; i < clients.size(); ++i) {
        const Client &client = clients[i];
        contenders[i].detected.push_back(
                client.detectedAt >= 0 ? double(client.detectedAt - client.startAt) / 1000.0 : -1);
        client.socket->abort();
    }
}

// A peer in another process that echoes everything; SIGSTOP hangs it.
class EchoProcess
{
public:
    EchoProcess()
    {
        process.start(QCoreApplication::applicationFilePath(), {QStringLiteral("--echo-peer")});
        if (process.waitForStarted(5000) && process.waitForReadyRead(10000))
            port = quint16(process.readLine().trimmed().toUInt());
    }
    ~EchoProcess()
    {
        ::kill(pid_t(process.processId()), SIGCONT);
        process.kill();
        process.waitForFinished(5000);
    }
    bool stop() { return ::kill(pid_t(process.processId()), SIGSTOP) == 0; }

    QProcess process;
    quint16 port = 0;
};

int runEchoPeer()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 1;
    QObject::connect(&server, &QTcpServer::newConnection, &server, [&server] {
        while (QTcpSocket *socket = server.nextPendingConnection())
            QObject::connect(socket, &QIODevice::readyRead, socket,
                             [socket] { socket->write(socket->readAll()); });
    });
    QTextStream(stdout) << server.serverPort() << Qt::endl;
    return QCoreApplication::exec();
}

// One repetition against a hung peer: the heartbeat, and keepalive alone.
void hungPeerRound(std::vector<Contender> &contenders, double *heartbeatBound, milliseconds cap)
{
    EchoProcess echo;
    if (!echo.port)
        qFatal("the echo peer did not start");
    std::vector<Client> clients(2);
    QElapsedTimer clock;
    clock.start();
    for (Client &client : clients) {
        auto *socket = new KeepAliveSocket;
        socket->setKeepAliveOptions(chosenOptions());
        client.socket.reset(socket);
        socket->connectToHost(QHostAddress::LocalHost, echo.port);
        if (!socket->waitForConnected(5000))
            qFatal("connect to the echo peer failed");
    }
    auto *heartbeat = new KeepAliveHeartbeat(clients[0].socket.get());
    heartbeat->setInterval(1s);
    heartbeat->setMaxMissed(2);
    heartbeat->setJitter(100ms);
    heartbeat->setPingPayload(QByteArrayLiteral("PING\n"));
    *heartbeatBound = double(heartbeat->detectionBound().count()) / 1000.0;

    QEventLoop loop;
    int pending = int(clients.size());
    auto detected = [&](Client &client) {
        if (client.detectedAt >= 0)
            return;
        client.detectedAt = clock.elapsed();
        if (--pending == 0)
            loop.quit();
    };
    for (Client &client : clients) {
        // The heartbeat's bound counts from the last byte received.
        QObject::connect(client.socket.get(), &QIODevice::readyRead, &loop, [&client, &clock] {
            client.socket->readAll();
            client.startAt = clock.elapsed();
        });
        QObject::connect(static_cast<KeepAliveSocket *>(client.socket.get()),
                         &KeepAliveSocket::deadPeer, &loop, [&] { detected(client); });
    }
    // Both hear back once, so the peer is known to be alive, then it hangs.
    for (Client &client : clients)
        client.socket->write("hello\n");
    QTimer::singleShot(500, &loop, &QEventLoop::quit);
    loop.exec();
    if (clients[0].startAt < 0 || clients[1].startAt < 0 || !echo.stop())
        qFatal("the echo peer did not answer");
    QTimer::singleShot(cap, &loop, &QEventLoop::quit);
    loop.exec();
    for (size_t i = 0; i < clients.size(); ++i) {
        const Client &client = clients[i];
        contenders[i].detected.push_back(
                client.detectedAt >= 0 ? double(client.detectedAt - client.startAt) / 1000.0 : -1);
        client.socket->abort();
    }
}

QString secondsText(double value)
{
    return QStringLiteral("%1 s").arg(value, 0, 'f', 2);
}

void printTable(QTextStream &out, const QString &scenario, const std::vector<Contender> &contenders,
                milliseconds cap)
{
    for (const Contender &c : contenders) {
        const bool allDetected = std::none_of(c.detected.begin(), c.detected.end(),
                                              [](double value) { return value < 0; });
        QString med, spread, ratio, verdict;
        if (allDetected) {
            const double m = median(c.detected);
            med = secondsText(m);
            spread = QStringLiteral("%1–%2").arg(
                    secondsText(*std::min_element(c.detected.begin(), c.detected.end())),
                    secondsText(*std::max_element(c.detected.begin(), c.detected.end())));
            if (c.boundSeconds > 0) {
                const double worst =
                        *std::max_element(c.detected.begin(), c.detected.end()) / c.boundSeconds;
                ratio = QStringLiteral("%1 (worst %2)")
                                .arg(m / c.boundSeconds, 0, 'f', 3)
                                .arg(worst, 0, 'f', 3);
                if (c.target > 0)
                    verdict = QStringLiteral("≤ %1 %2")
                                      .arg(c.target, 0, 'f', 2)
                                      .arg(worst <= c.target ? QStringLiteral("met")
                                                             : QStringLiteral("**not met**"));
            }
        } else {
            const auto detectedCount = std::count_if(c.detected.begin(), c.detected.end(),
                                                     [](double value) { return value >= 0; });
            med = QStringLiteral("> %1").arg(secondsText(double(cap.count()) / 1000.0));
            spread = QStringLiteral("%1 of %2 reported within the cap")
                             .arg(detectedCount)
                             .arg(c.detected.size());
            ratio = QStringLiteral("—");
            if (c.target > 0)
                verdict = QStringLiteral("**not met**");
        }
        out << "| " << scenario << " | " << c.name << " | " << med << " | " << spread << " | "
            << c.bound << " | " << ratio << " | " << verdict << " |\n";
    }
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    // Every death here is expected; the library's log of each is not the result.
    QLoggingCategory::setFilterRules(QStringLiteral("qtkeepalive.*=false"));
    QCommandLineParser parser;
    parser.setApplicationDescription(
            QStringLiteral("Dead-peer detection latency against the configured bound."));
    parser.addHelpOption();
    const QCommandLineOption repetitionsOption(QStringLiteral("repetitions"),
                                               QStringLiteral("Repetitions (default 5)."),
                                               QStringLiteral("n"), QStringLiteral("5"));
    const QCommandLineOption capOption(
            QStringLiteral("cap"),
            QStringLiteral("Longest wait for a report, in seconds (default 5)."),
            QStringLiteral("s"), QStringLiteral("5"));
    const QCommandLineOption echoOption(QStringLiteral("echo-peer"),
                                        QStringLiteral("Run as the echo peer (internal)."));
    parser.addOptions({repetitionsOption, capOption, echoOption});
    parser.process(app);
    if (parser.isSet(echoOption))
        return runEchoPeer();
    const int repetitions = parser.value(repetitionsOption).toInt();
    const int capSeconds = parser.value(capOption).toInt();
    if (repetitions < 1 || repetitions > 100 || capSeconds < 4 || capSeconds > 600) {
        QTextStream(stderr) << "bench_detection: --repetitions 1..100, --cap 4..600\n";
        return 2;
    }
    const milliseconds cap(qint64(capSeconds) * 1000);

    const KeepAliveOptions options = chosenOptions();
    const double bound = double(options.detectionBound().count()) / 1000.0;
    const double byHandIdle =
            double((options.idle() + options.interval() * options.probeCount()).count()) / 1000.0;
    const double limit = retransmissionLimitSeconds();
    const QString optionsText = QStringLiteral("idle 1 s, interval 1 s, 2 probes");
    auto silentContenders = [&](bool dataInFlight) {
        std::vector<Contender> c(3);
        c[0] = {QStringLiteral("KeepAliveSocket (%1)").arg(optionsText),
                QStringLiteral("detectionBound() %1").arg(secondsText(bound)),
                bound,
                1.05,
                {}};
        c[1] = {QStringLiteral("QTcpSocket"),
                dataInFlight
                        ? QStringLiteral("kernel retransmission limit ≈ %1").arg(secondsText(limit))
                        : QStringLiteral("none (keepalive off: never)"),
                dataInFlight ? limit : 0,
                0,
                {}};
        c[2] = {QStringLiteral("QTcpSocket, keepalive set by hand (%1)").arg(optionsText),
                dataInFlight
                        ? QStringLiteral("kernel retransmission limit ≈ %1 (keepalive does "
                                         "not run with data in flight)")
                                  .arg(secondsText(limit))
                        : QStringLiteral("idle + 2 × interval = %1").arg(secondsText(byHandIdle)),
                dataInFlight ? limit : byHandIdle,
                0,
                {}};
        return c;
    };
    std::vector<Contender> idle = silentContenders(false);
    std::vector<Contender> inFlight = silentContenders(true);
    std::vector<Contender> hung(2);
    double heartbeatBound = 0;
    for (int round = 0; round < repetitions; ++round) {
        silentPeerRound(idle, false, cap);
        silentPeerRound(inFlight, true, cap);
        hungPeerRound(hung, &heartbeatBound, cap);
    }
    hung[0].name = QStringLiteral("KeepAliveHeartbeat (interval 1 s, 2 missed, jitter 0.1 s)");
    hung[0].bound = QStringLiteral("detectionBound() %1 after the last byte")
                            .arg(secondsText(heartbeatBound));
    hung[0].boundSeconds = heartbeatBound;
    hung[0].target = 1.05; // the documented bound plus the event loop's latency
    hung[1].name = QStringLiteral("KeepAliveSocket, keepalive only (%1)").arg(optionsText);
    hung[1].bound = QStringLiteral("none: the hung peer's kernel answers every probe");

    QTextStream out(stdout);
    out << "| Scenario | Contender | Median | Spread | Bound | Median / bound (worst) | Target "
           "(worst case) |\n|---|---|---|---|---|---|---|\n";
    printTable(out, QStringLiteral("silent peer, idle"), idle, cap);
    printTable(out, QStringLiteral("silent peer, data in flight"), inFlight, cap);
    printTable(out, QStringLiteral("hung peer (SIGSTOP)"), hung, cap);
    out << "\n"
        << repetitions
        << " repetitions; in each, the contenders of a scenario run side by side and their "
           "peers fall silent at the same moment. Idle: measured from the moment the peer fell "
           "silent (right after connecting); in flight: from the write; hung peer: from the last "
           "byte received. Cap "
        << capSeconds << " s.\n";
    return 0;
}
