// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveHeartbeat on a client QWebSocket against a third party's server:
// Python's websockets package (wsserver.py, next to this file), which answers
// WebSocket pings by itself and pings nothing.
//
// - a live server: pings answered, round-trip times measured, no death;
// - a server stopped with SIGSTOP (its kernel still acknowledges, so TCP
//   sees nothing): heartbeatTimeout() within the bound from the last pong,
//   deadPeerMessage(), a close frame with 1011, disconnected();
// - deleting the heartbeat or the QWebSocket in heartbeatTimeout();
// - the QWebSocket and its heartbeat moved to another thread while connected;
// - a server that streams messages: no ping is ever sent.
//
// Without Python's websockets package the test skips, unless CI is "true".

#include <KeepAliveHeartbeat>

#include <QtCore/QElapsedTimer>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QScopeGuard>
#include <QtCore/QThread>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>
#include <QtWebSockets/QWebSocket>

#include "../../shared/pythonpeer.h"

#include <atomic>
#include <memory>

#include <csignal>
#include <sys/types.h>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const QString ServerScript = QStringLiteral(WSSERVER_SCRIPT);
constexpr int StartTimeoutMs = 30000;

//! Times of a heartbeat's signals, in the test's clock (ms), wherever it lives.
struct Watch
{
    std::atomic<int> pings{0};
    std::atomic<int> roundTrips{0};
    std::atomic<qint64> lastPongAt{-1};
    std::atomic<qint64> deadAt{-1};
    std::atomic<qint64> disconnectedAt{-1};
};

//! Connects \a watch to \a heartbeat and its QWebSocket, directly (in their thread).
void observe(KeepAliveHeartbeat *heartbeat, QWebSocket *webSocket, Watch *watch,
             const QElapsedTimer *clock)
{
    QObject::connect(
            heartbeat, &KeepAliveHeartbeat::pingSent, heartbeat, [watch] { ++watch->pings; },
            Qt::DirectConnection);
    QObject::connect(
            heartbeat, &KeepAliveHeartbeat::roundTripTimeChanged, heartbeat,
            [watch, clock] {
                watch->lastPongAt = clock->elapsed();
                ++watch->roundTrips;
            },
            Qt::DirectConnection);
    QObject::connect(
            heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, heartbeat,
            [watch, clock] { watch->deadAt = clock->elapsed(); }, Qt::DirectConnection);
    QObject::connect(
            webSocket, &QWebSocket::disconnected, webSocket,
            [watch, clock] { watch->disconnectedAt = clock->elapsed(); }, Qt::DirectConnection);
}

} // namespace

class tst_WebSocketHeartbeat : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanup();

    void liveServer();
    void stoppedServer();
    void deleteInHeartbeatTimeout_data();
    void deleteInHeartbeatTimeout();
    void movedToThreadWhileConnected();
    void messageStreamNeedsNoPing();

private:
    //! Starts wsserver.py with \a arguments; the URL it listens on, empty on failure.
    QUrl startServer(const QStringList &arguments = {});
    void stopServer();
    //! SIGSTOPs the server; its kernel goes on acknowledging.
    bool freezeServer();

    QString m_python;
    std::unique_ptr<QProcess> m_server;
    QElapsedTimer m_clock;
};

void tst_WebSocketHeartbeat::initTestCase()
{
    FIND_PYTHON_WITH_WEBSOCKETS(m_python);
    m_clock.start();
}

void tst_WebSocketHeartbeat::cleanup()
{
    stopServer();
}

QUrl tst_WebSocketHeartbeat::startServer(const QStringList &arguments)
{
    m_server = std::make_unique<QProcess>();
    m_server->start(m_python, QStringList{ServerScript} + arguments);
    QByteArray line;
    QElapsedTimer waited;
    waited.start();
    while (!line.endsWith('\n') && waited.elapsed() < StartTimeoutMs
           && m_server->state() != QProcess::NotRunning) {
        m_server->waitForReadyRead(100);
        line += m_server->readLine();
    }
    if (!line.startsWith("listening ")) {
        qWarning() << "wsserver.py:" << line << m_server->readAllStandardError();
        return {};
    }
    return QUrl(QStringLiteral("ws://127.0.0.1:%1/").arg(line.mid(10).trimmed().toUInt()));
}

void tst_WebSocketHeartbeat::stopServer()
{
    if (!m_server)
        return;
    if (m_server->state() != QProcess::NotRunning) {
        ::kill(pid_t(m_server->processId()), SIGCONT);
        m_server->kill();
        m_server->waitForFinished(5000);
    }
    m_server.reset();
}

bool tst_WebSocketHeartbeat::freezeServer()
{
    return ::kill(pid_t(m_server->processId()), SIGSTOP) == 0;
}

void tst_WebSocketHeartbeat::liveServer()
{
    const QUrl url = startServer();
    QVERIFY(url.isValid());
    QWebSocket webSocket;
    auto *heartbeat = new KeepAliveHeartbeat(&webSocket);
    QCOMPARE(heartbeat->watched(), &webSocket);
    QCOMPARE(heartbeat->socket(), nullptr);
    QVERIFY(heartbeat->setInterval(300ms));
    QVERIFY(heartbeat->setMaxMissed(2));
    QVERIFY(heartbeat->setJitter(0ms));
    QSignalSpy pings(heartbeat, &KeepAliveHeartbeat::pingSent);
    QSignalSpy roundTrips(heartbeat, &KeepAliveHeartbeat::roundTripTimeChanged);
    QSignalSpy deaths(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);
    // Qt's own measure of the same pongs, in whole milliseconds.
    QSignalSpy pongs(&webSocket, &QWebSocket::pong);
    QCOMPARE(heartbeat->roundTripTime(), -1us);
    webSocket.open(url);
    QTRY_COMPARE_WITH_TIMEOUT(webSocket.state(), QAbstractSocket::ConnectedState, StartTimeoutMs);

    QTest::qWait(3000);
    // A ping every 300 ms of silence, each answered by the package.
    QVERIFY2(pings.size() >= 6, qPrintable(QString::number(pings.size())));
    QVERIFY(roundTrips.size() >= pings.size() - 1);
    const microseconds rtt = heartbeat->roundTripTime();
    qInfo("%lld pings, %lld pongs, round trip %lld us", qint64(pings.size()),
          qint64(roundTrips.size()), qint64(rtt.count()));
    QVERIFY2(rtt > 0us && rtt < 1s, qPrintable(QString::number(rtt.count())));
    QCOMPARE(roundTrips.constLast().at(0).value<microseconds>(), rtt);
    QCOMPARE(pongs.size(), roundTrips.size());
    const qint64 qtMs = qint64(pongs.constLast().at(0).toULongLong());
    qInfo("QWebSocket::pong(): %lld ms", qtMs);
    QVERIFY2(qAbs(duration_cast<milliseconds>(rtt).count() - qtMs) <= 2,
             qPrintable(QStringLiteral("heartbeat %1 us, Qt %2 ms").arg(rtt.count()).arg(qtMs)));
    QVERIFY(heartbeat->missedCount() <= 1);
    QCOMPARE(deaths.size(), 0);
    QCOMPARE(heartbeat->deadPeerMessage(), QString());
    QCOMPARE(webSocket.state(), QAbstractSocket::ConnectedState);
}

void tst_WebSocketHeartbeat::stoppedServer()
{
    const QUrl url = startServer();
    QVERIFY(url.isValid());
    QWebSocket webSocket;
    auto *heartbeat = new KeepAliveHeartbeat(&webSocket);
    QVERIFY(heartbeat->setInterval(1s));
    QVERIFY(heartbeat->setMaxMissed(2));
    QVERIFY(heartbeat->setJitter(0ms));
    QCOMPARE(heartbeat->detectionBound(), 3000ms);
    Watch watch;
    observe(heartbeat, &webSocket, &watch, &m_clock);
    QSignalSpy messages(heartbeat, &KeepAliveHeartbeat::deadPeerMessageChanged);
    webSocket.open(url);
    QTRY_COMPARE_WITH_TIMEOUT(webSocket.state(), QAbstractSocket::ConnectedState, StartTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(watch.roundTrips >= 2, StartTimeoutMs);

    QVERIFY(freezeServer());
    const qint64 stoppedAt = m_clock.elapsed();
    QTRY_VERIFY_WITH_TIMEOUT(watch.deadAt >= 0, 3000 + 10000);
    const qint64 sinceStop = watch.deadAt - stoppedAt;
    const qint64 sinceLife = watch.deadAt - watch.lastPongAt;
    qInfo("heartbeatTimeout %lld ms after SIGSTOP, %lld ms after the last pong (bound 3000 ms)",
          sinceStop, sinceLife);
    QVERIFY2(sinceLife >= 3000 - 100 && sinceLife <= 3000 + 500,
             qPrintable(QString::number(sinceLife)));
    QVERIFY2(sinceStop >= 3000 - 1100 && sinceStop <= 3000 + 500,
             qPrintable(QString::number(sinceStop)));
    const QString message =
            QStringLiteral("peer did not answer 2 application heartbeats (interval 1 s)");
    QCOMPARE(heartbeat->deadPeerMessage(), message);
    QCOMPARE(messages.size(), 1);
    QCOMPARE(messages.constFirst().at(0).toString(), message);
    // Ended with a close frame naming the death; the stopped kernel takes it.
    QTRY_VERIFY_WITH_TIMEOUT(watch.disconnectedAt >= 0, 5000);
    QVERIFY(watch.disconnectedAt >= watch.deadAt);
    QCOMPARE(webSocket.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(int(webSocket.closeCode()), 1011);
    QCOMPARE(webSocket.closeReason(), message);
}

void tst_WebSocketHeartbeat::deleteInHeartbeatTimeout_data()
{
    QTest::addColumn<bool>("deleteWebSocket");
    QTest::newRow("heartbeat") << false;
    QTest::newRow("QWebSocket") << true;
}

void tst_WebSocketHeartbeat::deleteInHeartbeatTimeout()
{
    QFETCH(bool, deleteWebSocket);
    const QUrl url = startServer();
    QVERIFY(url.isValid());
    QPointer<QWebSocket> webSocket = new QWebSocket;
    QPointer<KeepAliveHeartbeat> heartbeat = new KeepAliveHeartbeat(webSocket.data());
    QVERIFY(heartbeat->setInterval(300ms));
    QVERIFY(heartbeat->setMaxMissed(1));
    Watch watch;
    observe(heartbeat, webSocket, &watch, &m_clock);
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, this, [&] {
        if (deleteWebSocket)
            webSocket->deleteLater();
        else
            heartbeat->deleteLater();
    });
    webSocket->open(url);
    QTRY_COMPARE_WITH_TIMEOUT(webSocket->state(), QAbstractSocket::ConnectedState, StartTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(watch.roundTrips >= 1, StartTimeoutMs);

    QVERIFY(freezeServer());
    QTRY_VERIFY_WITH_TIMEOUT(watch.deadAt >= 0, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(!heartbeat, 5000);
    if (deleteWebSocket) {
        QTRY_VERIFY_WITH_TIMEOUT(!webSocket, 5000);
    } else {
        // The verdict stands without the heartbeat: the connection is ended.
        QTRY_VERIFY_WITH_TIMEOUT(watch.disconnectedAt >= 0, 5000);
        QCOMPARE(webSocket->state(), QAbstractSocket::UnconnectedState);
    }
    // Longer than the heartbeat's grace before abort(): nothing left fires.
    QTest::qWait(600);
    delete webSocket;
}

void tst_WebSocketHeartbeat::movedToThreadWhileConnected()
{
    const QUrl url = startServer();
    QVERIFY(url.isValid());
    auto *webSocket = new QWebSocket;
    auto *heartbeat = new KeepAliveHeartbeat(webSocket);
    QVERIFY(heartbeat->setInterval(500ms));
    QVERIFY(heartbeat->setMaxMissed(2));
    QVERIFY(heartbeat->setJitter(0ms));
    Watch watch;
    observe(heartbeat, webSocket, &watch, &m_clock);
    webSocket->open(url);
    QTRY_COMPARE_WITH_TIMEOUT(webSocket->state(), QAbstractSocket::ConnectedState, StartTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(watch.roundTrips >= 1, StartTimeoutMs);

    QThread thread;
    const auto stopThread = qScopeGuard([&thread] {
        thread.quit();
        thread.wait(10000);
    });
    connect(&thread, &QThread::finished, webSocket, &QObject::deleteLater);
    webSocket->moveToThread(&thread);
    QCOMPARE(heartbeat->thread(), &thread);
    thread.start();
    const int before = watch.roundTrips;
    // It goes on pinging from the new thread...
    QTRY_VERIFY_WITH_TIMEOUT(watch.roundTrips >= before + 3, 10000);
    QVERIFY(freezeServer());
    const qint64 stoppedAt = m_clock.elapsed();
    // ... and detects the death there.
    QTRY_VERIFY_WITH_TIMEOUT(watch.deadAt >= 0, 10000);
    const qint64 sinceLife = watch.deadAt - watch.lastPongAt;
    qInfo("in a QThread: heartbeatTimeout %lld ms after SIGSTOP, %lld ms after the last pong "
          "(bound 1500 ms)",
          watch.deadAt - stoppedAt, sinceLife);
    QVERIFY2(sinceLife >= 1500 - 100 && sinceLife <= 1500 + 500,
             qPrintable(QString::number(sinceLife)));
    QTRY_VERIFY_WITH_TIMEOUT(watch.disconnectedAt >= 0, 5000);
}

void tst_WebSocketHeartbeat::messageStreamNeedsNoPing()
{
    const QUrl url = startServer({QStringLiteral("--stream"), QStringLiteral("200")});
    QVERIFY(url.isValid());
    QWebSocket webSocket;
    auto *heartbeat = new KeepAliveHeartbeat(&webSocket);
    QVERIFY(heartbeat->setInterval(1s));
    QVERIFY(heartbeat->setMaxMissed(2));
    QSignalSpy pings(heartbeat, &KeepAliveHeartbeat::pingSent);
    QSignalSpy deaths(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);
    QSignalSpy messages(&webSocket, &QWebSocket::textMessageReceived);
    webSocket.open(url);
    QTRY_COMPARE_WITH_TIMEOUT(webSocket.state(), QAbstractSocket::ConnectedState, StartTimeoutMs);
    // Longer than the detection bound: frames every 200 ms are life enough.
    QTest::qWait(int(heartbeat->detectionBound().count()) + 1000);
    QVERIFY2(messages.size() >= 10, qPrintable(QString::number(messages.size())));
    QCOMPARE(pings.size(), 0);
    QCOMPARE(deaths.size(), 0);
    QCOMPARE(heartbeat->missedCount(), 0);
    QCOMPARE(heartbeat->roundTripTime(), -1us);
    QCOMPARE(webSocket.state(), QAbstractSocket::ConnectedState);
}

QTEST_GUILESS_MAIN(tst_WebSocketHeartbeat)
#include "tst_websocketheartbeat.moc"
