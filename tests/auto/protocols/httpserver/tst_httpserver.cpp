// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// keepalive-http-server (QHttpServer bound to a KeepAliveServer) against a
// third-party client, Python's http.client (httpclients.py, next to this
// file), both run as processes on 127.0.0.1:
//
// - idle keep-alive connections are closed after --idle-timeout, and the
//   client sees the close, while a client that sends a request every 300 ms
//   on its keep-alive connection gets every answer and is never reaped;
// - as root, a client in a network namespace of its own, joined to the
//   server's by a veth pair, whose link goes down: the server reports the
//   dead peer within the keepalive bound while a client in the server's
//   namespace keeps being answered. The namespaces carry the test's pid in
//   their names and are removed in cleanup(), also after a failure;
//   initTestCase() removes those of runs that were killed. Without root or
//   `ip` this test skips, unless CI is "true": there it fails;
// - over --max-clients, a client is answered 503 with "Connection: close"
//   and the server logs the refusal; the others keep being served, and once
//   one leaves a new client is served;
// - bad arguments: exit 2 and one line naming the option, value and range.

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QStandardPaths>
#include <QtTest/QTest>

#include "../../shared/iproute.h"

#include <memory>
#include <optional>
#include <vector>

namespace {

const QString ServerProgram = QStringLiteral(KEEPALIVE_HTTP_SERVER);
const QString ClientScript = QStringLiteral(HTTP_CLIENTS_SCRIPT);

// Keepalive idle 1 s, interval 1 s, 2 probes: the server gives up on a
// silent client 3 s after its last sign of life.
const QStringList ShortOptions{QStringLiteral("-d"), QStringLiteral("1"),  QStringLiteral("-i"),
                               QStringLiteral("1"),  QStringLiteral("-c"), QStringLiteral("2")};
constexpr qint64 BoundMs = 3000;
// How much earlier than the bound a death may be seen: the link goes down a
// few milliseconds after the client's last ACK, not at the same instant.
constexpr qint64 EarlyMs = 200;
constexpr qint64 IdleTimeoutMs = 2000;
// What the issue allows past a bound on a loaded machine.
constexpr qint64 MarginMs = 1000;
// Waits for what the test does not time (a process starting, an answer).
constexpr int StartTimeoutMs = 20000;

//! The test's clock: every line the tools print is stamped with it on arrival.
QElapsedTimer &testClock()
{
    static QElapsedTimer timer;
    if (!timer.isValid())
        timer.start();
    return timer;
}

struct Line
{
    QString text;
    qint64 at = -1; //!< testClock() when it arrived
};

// One started program; its output is collected line by line as it arrives.
class Tool
{
public:
    Tool(const QString &program, const QStringList &arguments)
    {
        QObject::connect(&process, &QProcess::readyReadStandardOutput, [this] {
            m_pending += process.readAllStandardOutput();
            for (qsizetype end; (end = m_pending.indexOf('\n')) >= 0;) {
                lines.push_back({QString::fromUtf8(m_pending.left(end)), testClock().elapsed()});
                m_pending.remove(0, end + 1);
            }
        });
        QObject::connect(&process, &QProcess::readyReadStandardError,
                         [this] { err += process.readAllStandardError(); });
        process.start(program, arguments);
    }

    bool isRunning() const { return process.state() != QProcess::NotRunning; }

    //! Sends one command line (httpclients.py).
    void send(const QString &command) { process.write(command.toUtf8() + '\n'); }

    /*!
        The first line from index \a from on that matches \a pattern, waiting
        up to \a timeoutMs for it; its index in *index.
    */
    std::optional<Line> waitFor(const QString &pattern, int timeoutMs, qsizetype from = 0,
                                qsizetype *index = nullptr)
    {
        const QRegularExpression expression(pattern);
        const QDeadlineTimer deadline(timeoutMs);
        for (qsizetype i = from;; QTest::qWait(5)) {
            for (; i < qsizetype(lines.size()); ++i) {
                if (expression.match(lines[size_t(i)].text).hasMatch()) {
                    if (index)
                        *index = i;
                    return lines[size_t(i)];
                }
            }
            if (deadline.hasExpired() || !isRunning())
                return std::nullopt;
        }
    }

    //! The lines from index \a from on that match \a pattern.
    QList<Line> matching(const QString &pattern, qsizetype from = 0) const
    {
        const QRegularExpression expression(pattern);
        QList<Line> found;
        for (size_t i = size_t(from); i < lines.size(); ++i) {
            if (expression.match(lines[i].text).hasMatch())
                found << lines[i];
        }
        return found;
    }

    //! Everything printed, for failure messages.
    QByteArray transcript() const
    {
        QByteArray text = "\n--- stdout ---\n";
        for (const Line &line : lines)
            text += QByteArray::number(line.at) + " ms: " + line.text.toUtf8() + '\n';
        return text + m_pending + "--- stderr ---\n" + err + "---";
    }

    QProcess process;
    std::vector<Line> lines;
    QByteArray err;

private:
    QByteArray m_pending;
};

// The names of this suite's network namespaces.
const QString NamespacePrefix = QStringLiteral("qtkahttp");

//! The client's local port in a line of httpclients.py ("response ID PORT ...").
QString localPort(const Line &response)
{
    return response.text.section(QLatin1Char(' '), 2, 2);
}

} // namespace

class tst_HttpServer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanup();

    void idleConnectionsReaped();
    void silencedClientDroppedWithinBound();
    void refusedOverLimitGets503();
    void badArguments_data();
    void badArguments();

private:
    Tool *start(const QString &program, const QStringList &arguments)
    {
        m_tools.push_back(std::make_unique<Tool>(program, arguments));
        return m_tools.back().get();
    }
    //! keepalive-http-server on a port of its choice (\a prefix: e.g. `ip netns exec NS`).
    quint16 startServer(Tool **server, const QStringList &arguments, const QStringList &prefix = {});
    //! SIGTERM: the server ends cleanly, with exit code 0 and nothing on stderr.
    static void stopServer(Tool *server);
    //! httpclients.py talking to \a host:\a port; false if it does not start.
    bool startClients(Tool **clients, const QString &host, quint16 port,
                      const QStringList &prefix = {});

    QString m_python;
    std::vector<std::unique_ptr<Tool>> m_tools;
    bool m_namespaces = false;
};

void tst_HttpServer::initTestCase()
{
    testClock();
    // The one CMake found, else the first on PATH.
    m_python = QStringLiteral(PYTHON3);
    if (!QFileInfo(m_python).isExecutable())
        m_python = QStandardPaths::findExecutable(QStringLiteral("python3"));
    if (m_python.isEmpty())
        SKIP_OR_FAIL_UNDER_CI(QStringLiteral("needs python3 for its HTTP client"));
    if (IpRoute::namespacesUnavailable().isEmpty())
        IpRoute::removeNamespaces(NamespacePrefix);
}

void tst_HttpServer::cleanup()
{
    for (const auto &tool : m_tools) {
        if (!tool->isRunning())
            continue;
        tool->process.kill();
        tool->process.waitForFinished(5000);
    }
    m_tools.clear();
    if (m_namespaces)
        IpRoute::removeNamespaces(NamespacePrefix);
    m_namespaces = false;
}

quint16 tst_HttpServer::startServer(Tool **server, const QStringList &arguments,
                                    const QStringList &prefix)
{
    QStringList command = prefix
            + QStringList{ServerProgram, QStringLiteral("--port"), QStringLiteral("0")} + arguments;
    *server = start(command.takeFirst(), command);
    const std::optional<Line> listening =
            (*server)->waitFor(QStringLiteral("listening on [0-9.]+:\\d+$"), StartTimeoutMs);
    return listening ? quint16(listening->text.section(QLatin1Char(':'), -1).toUInt()) : 0;
}

bool tst_HttpServer::startClients(Tool **clients, const QString &host, quint16 port,
                                  const QStringList &prefix)
{
    QStringList command = prefix + QStringList{m_python, ClientScript, host, QString::number(port)};
    *clients = start(command.takeFirst(), command);
    // Python takes up to a second to start on a busy machine: the commands
    // are timed from when it reads them.
    return bool((*clients)->waitFor(QStringLiteral("^ready$"), StartTimeoutMs));
}

void tst_HttpServer::stopServer(Tool *server)
{
    QVERIFY2(server->isRunning(), server->transcript());
    server->process.terminate();
    QTRY_VERIFY2_WITH_TIMEOUT(!server->isRunning(), server->transcript(), StartTimeoutMs);
    QCOMPARE(server->process.exitStatus(), QProcess::NormalExit);
    QCOMPARE(server->process.exitCode(), 0);
    QVERIFY2(server->err.isEmpty(), server->transcript());
}

void tst_HttpServer::idleConnectionsReaped()
{
    Tool *server = nullptr;
    const quint16 port =
            startServer(&server, {QStringLiteral("--idle-timeout"), QStringLiteral("2")});
    QVERIFY2(port != 0, server->transcript());
    Tool *clients = nullptr;
    QVERIFY2(startClients(&clients, QStringLiteral("127.0.0.1"), port), clients->transcript());

    // One request, then nothing: the server last hears from this client
    // between the command and the answer.
    const qint64 commandAt = testClock().elapsed();
    clients->send(QStringLiteral("get idle /"));
    const std::optional<Line> idle =
            clients->waitFor(QStringLiteral("^response idle "), StartTimeoutMs);
    QVERIFY2(idle && idle->text.contains(QStringLiteral(" 200 - hello from QHttpServer")),
             clients->transcript());
    const QString idlePort = localPort(*idle);
    clients->send(QStringLiteral("every active 300 /echo?active"));

    const std::optional<Line> reaped = server->waitFor(
            QStringLiteral("lost 127\\.0\\.0\\.1:%1 reaped: sent nothing for 2 s$").arg(idlePort),
            int(IdleTimeoutMs + 10000));
    QVERIFY2(reaped, server->transcript());
    qInfo("idle connection reaped %lld ms after its answer, %lld ms after its request was "
          "sent (idle timeout %lld ms)",
          reaped->at - idle->at, reaped->at - commandAt, IdleTimeoutMs);
    QVERIFY2(reaped->at - commandAt >= IdleTimeoutMs, server->transcript());
    QVERIFY2(reaped->at - idle->at <= IdleTimeoutMs + MarginMs, server->transcript());
    // The client sees the close (a FIN) on the idle connection.
    const std::optional<Line> closed =
            clients->waitFor(QStringLiteral("^closed idle %1$").arg(idlePort), StartTimeoutMs);
    QVERIFY2(closed, clients->transcript());
    QVERIFY2(closed->at - idle->at <= IdleTimeoutMs + MarginMs, clients->transcript());

    // The active client lives on, well past two idle timeouts in all.
    QTest::qWait(int(qMax<qint64>(0, idle->at + 2 * IdleTimeoutMs + 1000 - testClock().elapsed())));
    clients->send(QStringLiteral("stop active"));
    clients->send(QStringLiteral("get active /echo?last"));
    QVERIFY2(clients->waitFor(QStringLiteral("^response active \\d+ 200 - last"), StartTimeoutMs),
             clients->transcript());

    const QList<Line> answers = clients->matching(QStringLiteral("^response active "));
    qInfo("active client: %lld answers in %lld ms", qint64(answers.size()),
          answers.constLast().at - answers.constFirst().at);
    // One every 300 ms for about 5 s; fewer on a loaded machine, never none.
    QVERIFY2(answers.size() >= 8, clients->transcript());
    for (const Line &answer : answers) {
        // Every request answered, all on the one keep-alive connection.
        QVERIFY2(answer.text.contains(
                         QRegularExpression(QStringLiteral(" 200 - (active|last)\\\\n$"))),
                 clients->transcript());
        QCOMPARE(localPort(answer), localPort(answers.constFirst()));
    }
    QVERIFY2(clients->matching(QStringLiteral("^(error|closed|reset) active ")).isEmpty(),
             clients->transcript());
    QVERIFY2(server->matching(QStringLiteral("lost 127\\.0\\.0\\.1:%1 ")
                                      .arg(localPort(answers.constFirst())))
                     .isEmpty(),
             server->transcript());
    QCOMPARE(server->matching(QStringLiteral(" lost ")).size(), 1);
    stopServer(server);
}

void tst_HttpServer::silencedClientDroppedWithinBound()
{
    SKIP_WITHOUT_NAMESPACES();

    // server ns: kahttp0 10.213.9.1 ──veth── kahttp1 10.213.9.2 :client ns.
    const qint64 pid = QCoreApplication::applicationPid();
    const QString serverNs = IpRoute::namespaceName(NamespacePrefix, 's', pid);
    const QString clientNs = IpRoute::namespaceName(NamespacePrefix, 'c', pid);
    m_namespaces = true;
    QString error;
    QVERIFY2(IpRoute::runAll(IpRoute::vethLinkCommands({serverNs, QStringLiteral("kahttp0"),
                                                        QStringLiteral("10.213.9.1/24"), true},
                                                       {clientNs, QStringLiteral("kahttp1"),
                                                        QStringLiteral("10.213.9.2/24")},
                                                       QStringLiteral("02:13:00:00:09")),
                             &error),
             qPrintable(error));

    // The server listens on both of its namespace's interfaces: the veth
    // for the client that falls silent, loopback for the witness.
    const QStringList inServerNs{IpRoute::program(), QStringLiteral("netns"),
                                 QStringLiteral("exec"), serverNs};
    Tool *server = nullptr;
    const quint16 port = startServer(
            &server,
            QStringList{QStringLiteral("--address"), QStringLiteral("0.0.0.0")} + ShortOptions,
            inServerNs);
    QVERIFY2(port != 0, server->transcript());
    Tool *silenced = nullptr;
    QVERIFY2(startClients(&silenced, QStringLiteral("10.213.9.1"), port,
                          {IpRoute::program(), QStringLiteral("netns"), QStringLiteral("exec"),
                           clientNs}),
             silenced->transcript());
    Tool *witness = nullptr;
    QVERIFY2(startClients(&witness, QStringLiteral("127.0.0.1"), port, inServerNs),
             witness->transcript());
    witness->send(QStringLiteral("every witness 300 /echo?witness"));
    QVERIFY2(witness->waitFor(QStringLiteral("^response witness \\d+ 200 "), StartTimeoutMs),
             witness->transcript());

    // A request and its answer, then at once the client's cable is pulled.
    silenced->send(QStringLiteral("get silenced /"));
    const std::optional<Line> answer =
            silenced->waitFor(QStringLiteral("^response silenced "), StartTimeoutMs);
    QVERIFY2(answer && answer->text.contains(QStringLiteral(" 200 - hello")),
             silenced->transcript());
    const qint64 pulledAt = testClock().elapsed();
    QVERIFY2(IpRoute::run(QStringLiteral("-n %1 link set kahttp1 down").arg(clientNs), &error),
             qPrintable(error));
    const qint64 linkDownTook = testClock().elapsed() - pulledAt;

    const std::optional<Line> lost = server->waitFor(
            QStringLiteral("lost 10\\.213\\.9\\.2:%1 dead peer \\(KeepAliveTimeout\\): peer did "
                           "not answer 2 keepalive probes")
                    .arg(localPort(*answer)),
            int(BoundMs + 10000));
    QVERIFY2(lost, server->transcript());
    const qint64 detectedAfter = lost->at - pulledAt;
    qInfo("dead client reported %lld ms after the link went down (bound %lld ms; `ip link set "
          "down` took %lld ms, the answer came %lld ms before)",
          detectedAfter, BoundMs, linkDownTook, pulledAt - answer->at);
    QVERIFY2(detectedAfter >= BoundMs - EarlyMs && detectedAfter <= BoundMs + MarginMs,
             server->transcript());

    // The witness was answered all along, and still is.
    const qsizetype before = qsizetype(witness->lines.size());
    QVERIFY2(witness->waitFor(QStringLiteral("^response witness \\d+ 200 "), StartTimeoutMs, before),
             witness->transcript());
    witness->send(QStringLiteral("stop witness"));
    const QList<Line> answers = witness->matching(QStringLiteral("^response witness "));
    const qsizetype duringDeath =
            std::count_if(answers.cbegin(), answers.cend(), [&](const Line &line) {
                return line.at > pulledAt && line.at < lost->at;
            });
    qInfo("witness: %lld answers while the dead client went unnoticed", qint64(duringDeath));
    QVERIFY2(duringDeath >= 3, witness->transcript());
    for (const Line &line : answers)
        QCOMPARE(localPort(line), localPort(answers.constFirst()));
    QVERIFY2(witness->matching(QStringLiteral("^(error|closed|reset) ")).isEmpty(),
             witness->transcript());
    QCOMPARE(server->matching(QStringLiteral(" lost ")).size(), 1);
    stopServer(server);
}

void tst_HttpServer::refusedOverLimitGets503()
{
    Tool *server = nullptr;
    const quint16 port =
            startServer(&server, {QStringLiteral("--max-clients"), QStringLiteral("2")});
    QVERIFY2(port != 0, server->transcript());
    Tool *clients = nullptr;
    QVERIFY2(startClients(&clients, QStringLiteral("127.0.0.1"), port), clients->transcript());

    const auto get = [clients](const QString &id, const QString &path) {
        const qsizetype from = qsizetype(clients->lines.size());
        clients->send(QStringLiteral("get %1 %2").arg(id, path));
        return clients->waitFor(QStringLiteral("^(response|error) %1 ").arg(id), StartTimeoutMs,
                                from);
    };
    const std::optional<Line> first = get(QStringLiteral("1"), QStringLiteral("/"));
    QVERIFY2(first
                     && first->text.endsWith(QStringLiteral(" 200 - hello from QHttpServer on a "
                                                            "KeepAliveServer (1 connected)\\n")),
             clients->transcript());
    const std::optional<Line> second = get(QStringLiteral("2"), QStringLiteral("/"));
    QVERIFY2(second && second->text.endsWith(QStringLiteral("(2 connected)\\n")),
             clients->transcript());

    // Each client over the limit: the 503, then the server's close.
    for (int i = 0; i < 5; ++i) {
        const QString id = QStringLiteral("over%1").arg(i);
        const std::optional<Line> refused = get(id, QStringLiteral("/"));
        QVERIFY2(refused && refused->text.endsWith(QStringLiteral(" 503 close too many clients\\n")),
                 clients->transcript());
        QVERIFY2(server->waitFor(QStringLiteral("lost 127\\.0\\.0\\.1:%1 refused: answered 503, 2 "
                                                "connected \\(--max-clients 2\\)$")
                                         .arg(localPort(*refused)),
                                 StartTimeoutMs),
                 server->transcript());
    }

    // The first two are still served, on their own connections.
    const std::optional<Line> firstAgain = get(QStringLiteral("1"), QStringLiteral("/echo?one"));
    QVERIFY2(firstAgain && firstAgain->text.endsWith(QStringLiteral(" 200 - one\\n")),
             clients->transcript());
    QCOMPARE(localPort(*firstAgain), localPort(*first));
    const std::optional<Line> secondAgain = get(QStringLiteral("2"), QStringLiteral("/echo?two"));
    QVERIFY2(secondAgain && secondAgain->text.endsWith(QStringLiteral(" 200 - two\\n")),
             clients->transcript());
    QCOMPARE(localPort(*secondAgain), localPort(*second));

    // The first leaves; once the server has seen it go, a new client is served.
    clients->send(QStringLiteral("close 1"));
    const QDeadlineTimer deadline(StartTimeoutMs);
    std::optional<Line> count;
    do {
        count = get(QStringLiteral("2"), QStringLiteral("/"));
        QVERIFY2(count && count->text.contains(QStringLiteral(" 200 - ")), clients->transcript());
    } while (!count->text.endsWith(QStringLiteral("(1 connected)\\n")) && !deadline.hasExpired());
    QVERIFY2(count->text.endsWith(QStringLiteral("(1 connected)\\n")), clients->transcript());
    const std::optional<Line> newcomer = get(QStringLiteral("3"), QStringLiteral("/"));
    QVERIFY2(newcomer
                     && newcomer->text.endsWith(
                             QStringLiteral(" 200 - hello from QHttpServer on "
                                            "a KeepAliveServer (2 connected)\\n")),
             clients->transcript());

    QCOMPARE(server->matching(QStringLiteral(" lost ")).size(), 5);
    QVERIFY2(clients->matching(QStringLiteral("^(error|reset|unsolicited) ")).isEmpty(),
             clients->transcript());
    stopServer(server);
}

void tst_HttpServer::badArguments_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QStringList>("mentions"); // what the one-line message must name

    const auto list = [](std::initializer_list<const char *> items) {
        QStringList strings;
        for (const char *item : items)
            strings << QString::fromUtf8(item);
        return strings;
    };
    QTest::newRow("idle timeout negative")
            << list({"--port", "0", "--idle-timeout", "-1"})
            << list({"--idle-timeout -1", "negative", "0 switches reaping off"});
    QTest::newRow("idle timeout not a duration")
            << list({"--port", "0", "--idle-timeout", "soon"}) << list({"--idle-timeout", "soon"});
    QTest::newRow("port too large")
            << list({"--port", "70000"}) << list({"--port", "70000", "0..65535"});
    QTest::newRow("port not a number") << list({"--port", "http"}) << list({"--port", "http"});
    QTest::newRow("max clients negative") << list({"--port", "0", "--max-clients", "-1"})
                                          << list({"--max-clients -1", "negative"});
    QTest::newRow("max clients too large") << list({"--port", "0", "--max-clients", "3000000000"})
                                           << list({"--max-clients 3000000000", "0..2147483647"});
    QTest::newRow("count too large")
            << list({"--port", "0", "-c", "200"}) << list({"--count 200", "1..127"});
    QTest::newRow("idle zero") << list({"--port", "0", "--idle", "0"})
                               << list({"--idle 0", "32767 s"});
    QTest::newRow("address not an address")
            << list({"--port", "0", "--address", "300.1.1.1"}) << list({"--address", "300.1.1.1"});
    QTest::newRow("unknown option") << list({"--port", "0", "--bogus"}) << list({"bogus"});
    QTest::newRow("unexpected argument") << list({"--port", "0", "extra"}) << list({"extra"});
}

void tst_HttpServer::badArguments()
{
    QFETCH(QStringList, arguments);
    QFETCH(QStringList, mentions);

    Tool *tool = start(ServerProgram, arguments);
    QTRY_VERIFY2_WITH_TIMEOUT(!tool->isRunning(), tool->transcript(), StartTimeoutMs);
    QCOMPARE(tool->process.exitStatus(), QProcess::NormalExit); // no crash
    QVERIFY2(tool->process.exitCode() == 2, tool->transcript());
    // One line on stderr, naming the option (and the value or the range).
    const QString errors = QString::fromUtf8(tool->err);
    QVERIFY2(errors.endsWith(QLatin1Char('\n')) && errors.count(QLatin1Char('\n')) == 1,
             tool->transcript());
    for (const QString &mention : mentions)
        QVERIFY2(errors.contains(mention),
                 qPrintable(QStringLiteral("\"%1\" not in: %2").arg(mention, errors)));
    // Nothing started.
    QVERIFY2(tool->matching(QStringLiteral("listening")).isEmpty(), tool->transcript());
}

QTEST_MAIN(tst_HttpServer)
#include "tst_httpserver.moc"
