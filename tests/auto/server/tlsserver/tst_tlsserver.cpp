// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveSslServer as a TLS application sees it, with real TLS on
// 127.0.0.1 (Qt's backend on both ends, a certificate made at test time):
// dead and reset clients reported, idle clients reaped, handshakes that
// never finish dropped after the timeout while slow ones complete, the
// client limit with handshakes under way, failed handshakes reported, the
// server destroyed mid-handshake, clients in a worker thread, the
// application heartbeat's verdict, and 1,000 TLS
// clients with 100 silenced at once. A dead client is silenced with
// QtKeepAliveTesting::silence(). Keepalive: idle 1 s, interval 1 s,
// 2 probes (bound 3 s).

#include "../../shared/tlsfixture.h"
#include "../../shared/warningtrap.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveSslServer>
#include <keepalivetesting.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QMetaProperty>
#include <QtCore/QMutex>
#include <QtCore/QPointer>
#include <QtCore/QRegularExpression>
#include <QtCore/QScopeGuard>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <climits>
#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

using namespace std::chrono_literals;
using Loss = QtKeepAlive::ClientLossReason;
using DeadPeerTest::boundMs;
using DeadPeerTest::shortOptions;
using DeadPeerTest::TlsCredentials;

namespace {

struct Lost
{
    QPointer<KeepAliveSslSocket> client;
    Loss reason;
    ConnectionHealth atDeath;
    quint16 peerPort;
    qint64 at;
    QThread *thread;
};

// clientLost() and QSslServer::errorOccurred() as a handler connected
// directly sees them, and per followed client the order of its signals and
// the bytes still readable in disconnected().
class Watch : public QObject
{
public:
    explicit Watch(KeepAliveSslServer *server)
    {
        clock.start();
        connect(
                server, &KeepAliveSslServer::clientLost, this,
                [this](KeepAliveSslSocket *client, Loss reason, const ConnectionHealth &atDeath) {
                    const QMutexLocker lock(&mutex);
                    events << QStringLiteral("clientLost");
                    lost.push_back({client, reason, atDeath, client->peerPort(), clock.elapsed(),
                                    QThread::currentThread()});
                },
                Qt::DirectConnection);
        connect(server, &QSslServer::errorOccurred, this,
                [this](QSslSocket *, QAbstractSocket::SocketError error) {
                    const QMutexLocker lock(&mutex);
                    events << QStringLiteral("serverError");
                    serverErrors << error;
                });
    }
    void follow(KeepAliveSslSocket *client)
    {
        connect(
                client, &QAbstractSocket::disconnected, this,
                [this, client] {
                    const QMutexLocker lock(&mutex);
                    events << QStringLiteral("disconnected");
                    if (client->isOpen())
                        readAtDisconnected += client->readAll();
                },
                Qt::DirectConnection);
        connect(
                client, &KeepAliveSslSocket::deadPeer, this,
                [this] {
                    const QMutexLocker lock(&mutex);
                    events << QStringLiteral("deadPeer");
                },
                Qt::DirectConnection);
    }
    std::size_t lostCount() const
    {
        const QMutexLocker lock(&mutex);
        return lost.size();
    }

    mutable QMutex mutex;
    QElapsedTimer clock;
    std::vector<Lost> lost;
    QStringList events;
    QList<QAbstractSocket::SocketError> serverErrors;
    QByteArray readAtDisconnected;
};

// The first bytes of a TLS 1.2 ClientHello record: a handshake that starts and stalls.
const QByteArray HalfClientHello = QByteArray::fromHex("160301020001000200");

} // namespace

class tst_TlsServer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void settingsRejected();
    void keepAliveErrorProperty_data();
    void keepAliveErrorProperty();
    void deadClientReported_data();
    void deadClientReported();
    void idleClientReapedTalkerKept();
    void heartbeatTimeoutReported();
    void stalledHandshakeDropped_data();
    void stalledHandshakeDropped();
    void slowHandshakeCompletes();
    void handshakeFailureReported_data();
    void handshakeFailureReported();
    void maxClientsWithHandshakesInProgress();
    void serverDestroyedDuringHandshakes();
    void handlersAbortAndDeleteLater();
    void clientInWorkerThreadReported();
    void thousandClientsHundredSilenced();

private:
    void makeServer();
    //! A TLS client connected and handed out; its server side in \a serverSide.
    QSslSocket *connectClient(KeepAliveSslSocket **serverSide);
    //! A plain TCP connection to the server, counted by it.
    QTcpSocket *connectRaw();
    /*!
        Until nothing is in flight either way (the client's last record, the
        server's TLS 1.3 session tickets): a silenced client's own
        retransmissions would reach the server and count as signs of life.
    */
    static bool waitUntilQuiet(const QSslSocket *client, const KeepAliveSslSocket *serverSide);

    std::unique_ptr<KeepAliveSslServer> m_server;
    std::vector<std::unique_ptr<QAbstractSocket>> m_clients;
};

void tst_TlsServer::initTestCase()
{
    VERIFY_TLS_AVAILABLE();
}

void tst_TlsServer::init()
{
    makeServer();
}

void tst_TlsServer::cleanup()
{
    m_clients.clear();
    m_server.reset();
}

void tst_TlsServer::makeServer()
{
    m_server = std::make_unique<KeepAliveSslServer>();
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificate(TlsCredentials::instance().certificate);
    configuration.setPrivateKey(TlsCredentials::instance().key);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    m_server->setSslConfiguration(configuration);
    QVERIFY(m_server->setKeepAliveOptions(shortOptions()));
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
}

QSslSocket *tst_TlsServer::connectClient(KeepAliveSslSocket **serverSide)
{
    auto client = std::make_unique<QSslSocket>();
    DeadPeerTest::trustTestCertificate(*client);
    QSignalSpy available(m_server.get(), &QTcpServer::pendingConnectionAvailable);
    client->connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort());
    // No blocking waits: the server's side of the handshake runs in this thread.
    QElapsedTimer waited;
    waited.start();
    while ((!client->isEncrypted() || !available.count()) && waited.elapsed() < 10000)
        QTest::qWait(10);
    if (!client->isEncrypted() || !available.count())
        return nullptr;
    *serverSide = m_server->nextPendingConnection();
    if (!*serverSide || (*serverSide)->peerPort() != client->localPort()
        || !(*serverSide)->isEncrypted()) {
        return nullptr;
    }
    m_clients.push_back(std::move(client));
    return static_cast<QSslSocket *>(m_clients.back().get());
}

QTcpSocket *tst_TlsServer::connectRaw()
{
    auto client = std::make_unique<QTcpSocket>();
    const int before = m_server->clientCount();
    client->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    if (!client->waitForConnected(5000))
        return nullptr;
    QElapsedTimer waited;
    waited.start();
    while (m_server->clientCount() == before && waited.elapsed() < 5000)
        QTest::qWait(10);
    if (m_server->clientCount() == before)
        return nullptr;
    m_clients.push_back(std::move(client));
    return static_cast<QTcpSocket *>(m_clients.back().get());
}

bool tst_TlsServer::waitUntilQuiet(const QSslSocket *client, const KeepAliveSslSocket *serverSide)
{
    return QTest::qWaitFor(
            [&] {
                return DeadPeerTest::unacknowledgedBytes(client->socketDescriptor()) == 0
                        && serverSide->connectionHealth().unackedSegments.value_or(1) == 0;
            },
            10000);
}

void tst_TlsServer::settingsRejected()
{
    KeepAliveSslServer server;
    QCOMPARE(server.handshakeTimeout(), 10s);
    QCOMPARE(static_cast<QSslServer &>(server).handshakeTimeout(), 10000);
    QSignalSpy changed(&server, &KeepAliveSslServer::handshakeTimeoutChanged);
    QVERIFY(server.setHandshakeTimeout(2s));
    QCOMPARE(changed.count(), 1);
    QVERIFY(server.setHandshakeTimeout(2s));
    QCOMPARE(changed.count(), 1);

    const struct
    {
        std::chrono::milliseconds value;
        const char *text;
    } bad[] = {{0ms, "0 ms"},
               {-5ms, "-5 ms"},
               {std::chrono::milliseconds(qint64(INT_MAX) + 1), "2147483648 ms"}};
    for (const auto &row : bad) {
        const QString message =
                QStringLiteral("invalid handshake timeout: %1 is outside 1 ms..2147483647 ms")
                        .arg(QLatin1String(row.text));
        QTest::ignoreMessage(QtWarningMsg, qPrintable(message));
        QVERIFY(!server.setHandshakeTimeout(row.value));
        QCOMPARE(server.settingErrorString(), message);
        QCOMPARE(server.handshakeTimeout(), 2s);
    }
    QCOMPARE(changed.count(), 1);
    QVERIFY(server.setHandshakeTimeout(std::chrono::milliseconds(INT_MAX)));
    QVERIFY(server.settingErrorString().isEmpty());

    // The settings shared with KeepAliveServer, through the same code.
    QTest::ignoreMessage(QtWarningMsg,
                         "invalid maximum number of clients: -1 is negative (0 means unlimited)");
    QVERIFY(!server.setMaxClients(-1));
    QTest::ignoreMessage(QtWarningMsg,
                         "invalid keepalive options: probe count 200 is out of range 1..127");
    QVERIFY(!server.setKeepAliveOptions(shortOptions().setProbeCount(200)));
    QCOMPARE(server.keepAliveError(), QtKeepAlive::KeepAliveError::InvalidOptions);
    QCOMPARE(server.keepAliveOptions(), KeepAliveOptions());
}

void tst_TlsServer::keepAliveErrorProperty_data()
{
    using Error = QtKeepAlive::KeepAliveError;
    QTest::addColumn<QStringList>("steps");
    QTest::addColumn<QList<Error>>("changes");
    QTest::addColumn<int>("occurred");
    QTest::addColumn<Error>("finalError");

    const QStringList bad{QStringLiteral("badOptions")};
    QTest::newRow("invalid options")
            << bad << QList<Error>{Error::InvalidOptions} << 1 << Error::InvalidOptions;
    QTest::newRow("invalid options twice")
            << bad + bad << QList<Error>{Error::InvalidOptions} << 2 << Error::InvalidOptions;
    QTest::newRow("invalid, then valid")
            << bad + QStringList{QStringLiteral("goodOptions")}
            << QList<Error>{Error::InvalidOptions, Error::NoError} << 1 << Error::NoError;
    QTest::newRow("valid options, unchanged")
            << QStringList{QStringLiteral("goodOptions"), QStringLiteral("goodOptions")}
            << QList<Error>{} << 0 << Error::NoError;
    // The other setters report through settingErrorString() only, as before.
    QTest::newRow("negative idle timeout")
            << QStringList{QStringLiteral("badIdle")} << QList<Error>{} << 0 << Error::NoError;
    QTest::newRow("negative maxClients")
            << QStringList{QStringLiteral("badMax")} << QList<Error>{} << 0 << Error::NoError;
    QTest::newRow("invalid options, then negative maxClients")
            << bad + QStringList{QStringLiteral("badMax")} << QList<Error>{Error::InvalidOptions}
            << 1 << Error::InvalidOptions;
    QTest::newRow("handshake timeout 0")
            << QStringList{QStringLiteral("badHandshake")} << QList<Error>{} << 0 << Error::NoError;
    QTest::newRow("invalid options, then handshake timeout 0")
            << bad + QStringList{QStringLiteral("badHandshake")}
            << QList<Error>{Error::InvalidOptions} << 1 << Error::InvalidOptions;
}

void tst_TlsServer::keepAliveErrorProperty()
{
    using Error = QtKeepAlive::KeepAliveError;
    QFETCH(QStringList, steps);
    QFETCH(QList<Error>, changes);
    QFETCH(int, occurred);
    QFETCH(Error, finalError);

    KeepAliveSslServer server;
    const QMetaObject *meta = server.metaObject();
    const QMetaProperty property = meta->property(meta->indexOfProperty("keepAliveError"));
    QVERIFY(property.isValid());
    QVERIFY(property.isReadable());
    QVERIFY(!property.isWritable());
    QCOMPARE(property.notifySignal().name(), QByteArray("keepAliveErrorChanged"));
    QCOMPARE(property.read(&server).value<Error>(), Error::NoError);
    QSignalSpy changed(&server, &KeepAliveSslServer::keepAliveErrorChanged);
    QSignalSpy occurrences(&server, &KeepAliveSslServer::keepAliveErrorOccurred);
    QVERIFY(server.setKeepAliveOptions(shortOptions()));
    QCOMPARE(changed.count(), 0);

    const QString badOptions =
            QStringLiteral("invalid keepalive options: probe count 200 is out of range 1..127");
    for (const QString &step : std::as_const(steps)) {
        if (step == QLatin1String("badOptions")) {
            QTest::ignoreMessage(QtWarningMsg, qPrintable(badOptions));
            QVERIFY(!server.setKeepAliveOptions(shortOptions().setProbeCount(200)));
            QCOMPARE(server.keepAliveErrorString(), badOptions);
        } else if (step == QLatin1String("goodOptions")) {
            QVERIFY(server.setKeepAliveOptions(shortOptions()));
            QVERIFY(server.keepAliveErrorString().isEmpty());
        } else if (step == QLatin1String("badIdle")) {
            QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("^invalid idle")));
            QVERIFY(!server.setIdleTimeout(-1ms));
        } else if (step == QLatin1String("badMax")) {
            QTest::ignoreMessage(QtWarningMsg,
                                 QRegularExpression(QStringLiteral("^invalid maximum number")));
            QVERIFY(!server.setMaxClients(-1));
        } else if (step == QLatin1String("badHandshake")) {
            QTest::ignoreMessage(QtWarningMsg,
                                 QRegularExpression(QStringLiteral("^invalid handshake timeout")));
            QVERIFY(!server.setHandshakeTimeout(0ms));
        } else {
            QFAIL(qPrintable(step));
        }
    }

    QList<Error> seen;
    for (const QList<QVariant> &arguments : std::as_const(changed))
        seen.append(arguments.constFirst().value<Error>());
    QCOMPARE(seen, changes);
    QCOMPARE(occurrences.count(), occurred);
    for (const QList<QVariant> &arguments : std::as_const(occurrences))
        QCOMPARE(arguments.constFirst().value<Error>(), Error::InvalidOptions);
    QCOMPARE(server.keepAliveError(), finalError);
    QCOMPARE(server.property("keepAliveError").value<Error>(), finalError);
    QCOMPARE(property.read(&server).value<Error>(), finalError);
}

void tst_TlsServer::deadClientReported_data()
{
    QTest::addColumn<bool>("reset");
    QTest::newRow("silent") << false;
    QTest::newRow("reset") << true;
}

void tst_TlsServer::deadClientReported()
{
    QFETCH(bool, reset);
    Watch watch(m_server.get());
    KeepAliveSslSocket *serverSide = nullptr;
    QSslSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QCOMPARE(serverSide->effectiveKeepAliveOptions().idle.value_or(0ms), 1000ms);
    watch.follow(serverSide);
    client->write("last words");
    QVERIFY(client->waitForBytesWritten(5000));
    // Decrypted but never read by the application: readable in disconnected().
    QTRY_COMPARE_WITH_TIMEOUT(serverSide->bytesAvailable(), qint64(10), 5000);
    QCOMPARE(m_server->clientCount(), 1);
    QVERIFY(waitUntilQuiet(client, serverSide));

    QString problem;
    const bool killed = reset ? QtKeepAliveTesting::resetConnection(client, &problem)
                              : QtKeepAliveTesting::silence(client, &problem);
    QVERIFY2(killed, qPrintable(problem));
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), boundMs() + 7000);
    const qint64 elapsed = clock.elapsed();
    qInfo("%s TLS client reported after %lld ms (bound %lld ms)", reset ? "reset" : "silent",
          elapsed, boundMs());
    QVERIFY2(elapsed <= (reset ? 1000 : boundMs() + 2000), qPrintable(QString::number(elapsed)));
    const Lost &lost = watch.lost.front();
    QCOMPARE(lost.client.data(), serverSide);
    QCOMPARE(lost.reason, reset ? Loss::ConnectionReset : Loss::KeepAliveTimeout);
    QVERIFY(lost.atDeath.isValid());
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 2000);
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("clientLost"), QStringLiteral("deadPeer"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(watch.readAtDisconnected, QByteArray("last words"));
    QCOMPARE(m_server->clientCount(), 0);
    QVERIFY(watch.serverErrors.isEmpty()); // after the handshake, QSslServer is out of it
}

void tst_TlsServer::idleClientReapedTalkerKept()
{
    QVERIFY(m_server->setIdleTimeout(1500ms));
    Watch watch(m_server.get());
    KeepAliveSslSocket *idle = nullptr;
    QSslSocket *idleClient = connectClient(&idle);
    QVERIFY(idleClient);
    KeepAliveSslSocket *talker = nullptr;
    QSslSocket *talkerClient = connectClient(&talker);
    QVERIFY(talkerClient);
    watch.follow(idle);
    idleClient->write("before");
    QTRY_COMPARE_WITH_TIMEOUT(idle->bytesAvailable(), qint64(6), 5000);
    QSignalSpy idleClientClosed(idleClient, &QAbstractSocket::disconnected);

    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 3000) {
        talkerClient->write("x");
        QTest::qWait(300);
    }
    QCOMPARE(watch.lostCount(), std::size_t(1));
    const Lost &lost = watch.lost.front();
    QCOMPARE(lost.client.data(), idle);
    QCOMPARE(lost.reason, Loss::IdleTimeout);
    QCOMPARE(watch.readAtDisconnected, QByteArray("before"));
    // Closed in order: the client sees the TLS close and the FIN, no reset.
    QTRY_COMPARE_WITH_TIMEOUT(idleClientClosed.count(), 1, 5000);
    QCOMPARE(idleClient->error(), QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(talker->state(), QAbstractSocket::ConnectedState);
    QTRY_COMPARE_WITH_TIMEOUT(talker->bytesAvailable() > 0, true, 5000);
    QCOMPARE(m_server->clientCount(), 1);
}

// A live TLS client that never answers the application's pings.
void tst_TlsServer::heartbeatTimeoutReported()
{
    Watch watch(m_server.get());
    KeepAliveSslSocket *serverSide = nullptr;
    QVERIFY(connectClient(&serverSide));
    watch.follow(serverSide);
    auto *heartbeat = new KeepAliveHeartbeat(serverSide);
    QVERIFY(heartbeat->setInterval(500ms));
    QVERIFY(heartbeat->setMaxMissed(1));
    QVERIFY(heartbeat->setJitter(0ms));
    const qint64 bound = heartbeat->detectionBound().count();
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), int(bound) + 3000);
    qInfo("silent live TLS client: HeartbeatTimeout after %lld ms, bound %lld ms", clock.elapsed(),
          bound);
    QCOMPARE(watch.lost.front().reason, Loss::HeartbeatTimeout);
    QVERIFY(clock.elapsed() <= bound + 1000);
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 3000);
    QCOMPARE(watch.events.first(), QStringLiteral("clientLost"));
    QCOMPARE(watch.events.count(QStringLiteral("deadPeer")), 1);
    QCOMPARE(m_server->clientCount(), 0);
}

void tst_TlsServer::stalledHandshakeDropped_data()
{
    QTest::addColumn<QByteArray>("sent");
    QTest::newRow("connects and sends nothing") << QByteArray();
    QTest::newRow("stalls halfway through its hello") << HalfClientHello;
}

void tst_TlsServer::stalledHandshakeDropped()
{
    QFETCH(QByteArray, sent);
    QVERIFY(m_server->setHandshakeTimeout(1500ms));
    Watch watch(m_server.get());
    QSignalSpy started(m_server.get(), &QSslServer::startedEncryptionHandshake);
    QTcpSocket *raw = connectRaw();
    QVERIFY(raw);
    const quint16 rawPort = raw->localPort();
    QElapsedTimer clock;
    clock.start();
    QCOMPARE(started.count(), 1);
    QSignalSpy rawClosed(raw, &QAbstractSocket::disconnected);
    if (!sent.isEmpty()) {
        raw->write(sent);
        QVERIFY(raw->waitForBytesWritten(2000));
    }
    QCOMPARE(m_server->clientCount(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), 6000);
    const qint64 elapsed = clock.elapsed();
    qInfo("stalled handshake dropped after %lld ms (timeout 1500 ms)", elapsed);
    QVERIFY2(elapsed >= 1400 && elapsed <= 2500, qPrintable(QString::number(elapsed)));
    QCOMPARE(watch.lost.front().reason, Loss::HandshakeTimeout);
    QCOMPARE(watch.lost.front().peerPort, rawPort);
    // QSslServer's own signal, as QSslServer emits it for a timed-out
    // handshake, after the loss (its handlers may abort the client).
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("clientLost"), QStringLiteral("serverError")}));
    QCOMPARE(watch.serverErrors, QList({QAbstractSocket::SocketTimeoutError}));
    // The slot is free at once, and the client is gone.
    QCOMPARE(m_server->clientCount(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(rawClosed.count(), 1, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(watch.lost.front().client.isNull(), 2000);
    QVERIFY(!m_server->hasPendingConnections());
    QVERIFY(!m_server->nextPendingConnection());
}

void tst_TlsServer::slowHandshakeCompletes()
{
    QVERIFY(m_server->setHandshakeTimeout(2000ms));
    Watch watch(m_server.get());
    // Connects, then takes 1.2 s before it starts its handshake.
    auto slow = std::make_unique<QSslSocket>();
    DeadPeerTest::trustTestCertificate(*slow);
    slow->connectToHost(QStringLiteral("127.0.0.1"), m_server->serverPort());
    QVERIFY(slow->waitForConnected(5000));
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), 1, 5000);
    QTest::qWait(1200);
    QSignalSpy available(m_server.get(), &QTcpServer::pendingConnectionAvailable);
    slow->startClientEncryption();
    QTRY_VERIFY_WITH_TIMEOUT(slow->isEncrypted(), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(available.count(), 1, 5000);
    KeepAliveSslSocket *serverSide = m_server->nextPendingConnection();
    QVERIFY(serverSide);
    QVERIFY(serverSide->isEncrypted());
    // Past the timeout now, and not dropped: the timer is for handshakes only.
    QTest::qWait(1500);
    QCOMPARE(watch.lostCount(), std::size_t(0));
    slow->write("hello");
    QTRY_COMPARE_WITH_TIMEOUT(serverSide->bytesAvailable(), qint64(5), 5000);
    QCOMPARE(serverSide->readAll(), QByteArray("hello"));
    QCOMPARE(m_server->clientCount(), 1);
}

void tst_TlsServer::handshakeFailureReported_data()
{
    QTest::addColumn<bool>("plainText");
    QTest::newRow("client speaks plain HTTP") << true;
    QTest::newRow("client rejects the certificate") << false;
}

void tst_TlsServer::handshakeFailureReported()
{
    QFETCH(bool, plainText);
    Watch watch(m_server.get());
    std::unique_ptr<QTcpSocket> client;
    if (plainText) {
        client = std::make_unique<QTcpSocket>();
        client->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
        QVERIFY(client->waitForConnected(5000));
        client->write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    } else {
        auto tls = std::make_unique<QSslSocket>(); // trusts only the system's CAs
        tls->connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort());
        client = std::move(tls);
    }
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), 5000);
    const Lost &lost = watch.lost.front();
    QCOMPARE(lost.reason, Loss::HandshakeFailed);
    QVERIFY(!watch.serverErrors.isEmpty());
    QCOMPARE(watch.events.first(), QStringLiteral("clientLost"));
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), 0, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(lost.client.isNull(), 2000);
    QVERIFY(!m_server->nextPendingConnection());
    QTest::qWait(200);
    QCOMPARE(watch.lostCount(), std::size_t(1));
}

void tst_TlsServer::maxClientsWithHandshakesInProgress()
{
    QVERIFY(m_server->setMaxClients(2));
    QVERIFY(m_server->setHandshakeTimeout(1500ms));
    Watch watch(m_server.get());
    QTcpSocket *first = connectRaw();
    QVERIFY(first);
    QTcpSocket *second = connectRaw();
    QVERIFY(second);
    QCOMPARE(m_server->clientCount(), 2);
    QElapsedTimer clock;
    clock.start();

    // Over the limit while two handshakes are under way: refused before any TLS work.
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral(
                                 "^refused client 127\\.0\\.0\\.1:\\d+: the server already has 2 "
                                 "clients \\(maxClients 2\\)$")));
    auto refused = std::make_unique<QSslSocket>();
    DeadPeerTest::trustTestCertificate(*refused);
    QSignalSpy refusedClosed(refused.get(), &QAbstractSocket::disconnected);
    refused->connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort());
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), 1000);
    QTRY_COMPARE_WITH_TIMEOUT(refusedClosed.count(), 1, 1000);
    QVERIFY(!refused->isEncrypted());
    QCOMPARE(watch.lost.front().reason, Loss::RefusedOverLimit);

    // The stalled handshakes hold their slots for the timeout, no longer.
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(3), 6000);
    qInfo("slots freed %lld ms after the stalled handshakes began (timeout 1500 ms)",
          clock.elapsed());
    QCOMPARE(watch.lost[1].reason, Loss::HandshakeTimeout);
    QCOMPARE(watch.lost[2].reason, Loss::HandshakeTimeout);
    QCOMPARE(m_server->clientCount(), 0);
    KeepAliveSslSocket *serverSide = nullptr;
    QVERIFY(connectClient(&serverSide));
    KeepAliveSslSocket *serverSide2 = nullptr;
    QVERIFY(connectClient(&serverSide2));
    QCOMPARE(m_server->clientCount(), 2);
}

void tst_TlsServer::serverDestroyedDuringHandshakes()
{
    QVERIFY(connectRaw());
    QTcpSocket *halfway = connectRaw();
    QVERIFY(halfway);
    halfway->write(HalfClientHello);
    QVERIFY(halfway->waitForBytesWritten(2000));
    KeepAliveSslSocket *serverSide = nullptr;
    QVERIFY(connectClient(&serverSide));
    QPointer<KeepAliveSslSocket> guard(serverSide);
    QCOMPARE(m_server->clientCount(), 3);
    m_server.reset(); // the sockets still its children go with it
    QVERIFY(guard.isNull());
    QTest::qWait(200); // nothing queued may touch the server now
    for (const auto &client : m_clients)
        QTRY_COMPARE_WITH_TIMEOUT(client->state(), QAbstractSocket::UnconnectedState, 5000);
}

// What handlers do: abort() and deleteLater() inside clientLost() and
// QSslServer::errorOccurred(), for a timed-out and a failed handshake and a
// reset client; the server goes on accepting.
void tst_TlsServer::handlersAbortAndDeleteLater()
{
    QVERIFY(m_server->setHandshakeTimeout(1000ms));
    Watch watch(m_server.get());
    const auto endIt = [](QSslSocket *client) {
        client->abort();
        client->deleteLater();
    };
    connect(m_server.get(), &KeepAliveSslServer::clientLost, this,
            [endIt](KeepAliveSslSocket *client) { endIt(client); });
    connect(m_server.get(), &QSslServer::errorOccurred, this,
            [endIt](QSslSocket *client) { endIt(client); });
    QVERIFY(connectRaw()); // times out
    QTcpSocket *plainText = connectRaw();
    QVERIFY(plainText);
    plainText->write("GET / HTTP/1.1\r\n\r\n"); // fails
    KeepAliveSslSocket *serverSide = nullptr;
    QSslSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QString problem;
    QVERIFY2(QtKeepAliveTesting::resetConnection(client, &problem), qPrintable(problem));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(3), 5000);
    QList<Loss> reasons;
    for (const Lost &lost : watch.lost)
        reasons << lost.reason;
    std::sort(reasons.begin(), reasons.end());
    QCOMPARE(reasons, QList({Loss::ConnectionReset, Loss::HandshakeTimeout, Loss::HandshakeFailed}));
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), 0, 5000);
    for (const Lost &lost : watch.lost)
        QTRY_VERIFY_WITH_TIMEOUT(lost.client.isNull(), 2000);
    KeepAliveSslSocket *next = nullptr;
    QVERIFY(connectClient(&next));
    QCOMPARE(m_server->clientCount(), 1);
}

void tst_TlsServer::clientInWorkerThreadReported()
{
    Watch watch(m_server.get());
    KeepAliveSslSocket *serverSide = nullptr;
    QSslSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QVERIFY(waitUntilQuiet(client, serverSide));
    QThread worker;
    worker.start();
    const auto stopWorker = qScopeGuard([&worker] {
        worker.quit();
        worker.wait();
    });
    serverSide->setParent(nullptr);
    serverSide->moveToThread(&worker);
    QPointer<KeepAliveSslSocket> moved(serverSide);
    QString problem;
    QVERIFY2(QtKeepAliveTesting::silence(client, &problem), qPrintable(problem));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), boundMs() + 7000);
    {
        const QMutexLocker lock(&watch.mutex);
        QCOMPARE(watch.lost.front().reason, Loss::KeepAliveTimeout);
        QCOMPARE(watch.lost.front().thread, &worker);
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), 0, 5000);
    QMetaObject::invokeMethod(
            moved, [&moved] { delete moved.data(); }, Qt::BlockingQueuedConnection);
}

void tst_TlsServer::thousandClientsHundredSilenced()
{
    constexpr int Total = 1000;
    constexpr int Silent = 100;
    m_server->close();
    m_server->setListenBacklogSize(Total + 100);
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
    m_server->setMaxPendingConnections(Total + 100);
    Watch watch(m_server.get());
    connect(m_server.get(), &QTcpServer::pendingConnectionAvailable, this, [this] {
        while (KeepAliveSslSocket *socket = m_server->nextPendingConnection())
            connect(socket, &QIODevice::readyRead, socket,
                    [socket] { socket->write(socket->readAll()); });
    });

    QElapsedTimer total;
    total.start();
    std::vector<QSslSocket *> clients;
    std::vector<QByteArray> echoed(Total);
    QHash<quint16, int> indexByPort;
    for (int i = 0; i < Total; ++i) {
        auto client = std::make_unique<QSslSocket>();
        DeadPeerTest::trustTestCertificate(*client);
        connect(client.get(), &QIODevice::readyRead, this,
                [&echoed, i, socket = client.get()] { echoed[i] += socket->readAll(); });
        client->connectToHostEncrypted(QStringLiteral("127.0.0.1"), m_server->serverPort());
        clients.push_back(client.get());
        m_clients.push_back(std::move(client));
        // A client's handshake wants the event loop; do not queue 1,000 at once.
        if (i % 50 == 49)
            QTRY_VERIFY_WITH_TIMEOUT(m_server->clientCount() > i - 50, 30000);
    }
    for (int i = 0; i < Total; ++i) {
        QTRY_VERIFY_WITH_TIMEOUT(clients[i]->isEncrypted(), 30000);
        indexByPort.insert(clients[i]->localPort(), i);
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), Total, 30000);
    qInfo("%d TLS clients connected and encrypted in %lld ms", Total, total.elapsed());
    QCOMPARE(watch.lostCount(), std::size_t(0));

    std::vector<KeepAliveSslSocket *> serverSides(Total, nullptr);
    for (KeepAliveSslSocket *socket : m_server->findChildren<KeepAliveSslSocket *>()) {
        const int index = indexByPort.value(socket->peerPort(), -1);
        if (index >= 0)
            serverSides[index] = socket;
    }
    for (int i = 0; i < Silent; ++i) {
        QVERIFY(serverSides[i]);
        QVERIFY(waitUntilQuiet(clients[i], serverSides[i]));
    }
    QElapsedTimer sinceSilence;
    sinceSilence.start();
    for (int i = 0; i < Silent; ++i) {
        QString problem;
        QVERIFY2(QtKeepAliveTesting::silence(clients[i], &problem), qPrintable(problem));
    }
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(Silent), boundMs() + 10000);
    const qint64 reportedAfter = sinceSilence.elapsed();
    QTest::qWait(1000); // nobody else goes
    qInfo("%d silenced TLS clients of %d reported %lld ms after the silence (bound %lld ms)",
          Silent, Total, reportedAfter, boundMs());
    QCOMPARE(watch.lostCount(), std::size_t(Silent));
    QSet<int> lost;
    for (const Lost &entry : watch.lost) {
        QCOMPARE(entry.reason, Loss::KeepAliveTimeout);
        const int index = indexByPort.value(entry.peerPort, -1);
        QVERIFY2(index >= 0 && index < Silent, qPrintable(QString::number(index)));
        lost.insert(index);
    }
    QCOMPARE(lost.size(), Silent);
    QCOMPARE(m_server->clientCount(), Total - Silent);

    // The others still talk TLS.
    for (int i = Silent; i < Total; ++i)
        clients[i]->write("echo");
    for (int i = Silent; i < Total; ++i)
        QTRY_COMPARE_WITH_TIMEOUT(echoed[i], QByteArray("echo"), 10000);
    qInfo("%d TLS clients still echoing; whole test %lld ms", Total - Silent, total.elapsed());
}

QTEST_MAIN(tst_TlsServer)
#include "tst_tlsserver.moc"
