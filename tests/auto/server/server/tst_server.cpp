// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveServer as an application sees it: one clientLost() per lost
// client, before the disconnected() handlers connected after it, for taken
// and pending clients; idle reaping that spares talkers; the client limit;
// many clients with one timer. Real connections on 127.0.0.1; a dead client
// is a client socket made silent with QtKeepAliveTesting::silence(), so that
// the server's keepalive probes go unanswered. Keepalive: idle 1 s,
// interval 1 s, 2 probes (bound 3 s).

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>
#include "../../shared/deadpeerwatch.h"
#include "../../shared/warningtrap.h"

#include <KeepAliveSocket>
#include <keepalivetesting.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QMetaProperty>
#include <QtCore/QMutex>
#include <QtCore/QPointer>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QSet>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <vector>

using namespace std::chrono_literals;
using Loss = QtKeepAlive::ClientLossReason;

using DeadPeerTest::boundMs;
using DeadPeerTest::shortOptions;

namespace {

// One clientLost() as the test's handler saw it.
struct Lost
{
    QPointer<KeepAliveSocket> client;
    Loss reason;
    ConnectionHealth atDeath;
    quint16 peerPort;
    qint64 at;
};

// Records clientLost() and, for every client, what a handler connected after
// the server's own sees: the order of clientLost() and disconnected(), and
// the bytes still readable in disconnected().
class ServerWatch : public QObject
{
public:
    explicit ServerWatch(KeepAliveServer *server) : server(server)
    {
        clock.start();
        connect(server, &KeepAliveServer::clientLost, this,
                [this](KeepAliveSocket *client, Loss reason, const ConnectionHealth &atDeath) {
                    events << QStringLiteral("clientLost");
                    lost.push_back({client, reason, atDeath, client->peerPort(), clock.elapsed()});
                });
    }

    // Connected after the server's handlers, as an application's are.
    void follow(KeepAliveSocket *client)
    {
        connect(client, &QAbstractSocket::disconnected, this, [this, client] {
            events << QStringLiteral("disconnected");
            // After abort() the device is closed.
            if (client->isOpen())
                readAtDisconnected += client->readAll();
        });
        connect(client, &KeepAliveSocket::deadPeer, this,
                [this] { events << QStringLiteral("deadPeer"); });
        connect(client, &QAbstractSocket::errorOccurred, this,
                [this] { events << QStringLiteral("errorOccurred"); });
    }

    KeepAliveServer *const server;
    QElapsedTimer clock;
    std::vector<Lost> lost;
    QStringList events;
    QByteArray readAtDisconnected;
};

// What a handler connected after the server's own sees of a client in a
// worker thread: direct connections, so everything is recorded in the
// thread that emitted it.
class ThreadedWatch
{
public:
    explicit ThreadedWatch(KeepAliveServer *server)
    {
        clock.start();
        QObject::connect(
                server, &KeepAliveServer::clientLost, &context,
                [this](KeepAliveSocket *client, Loss reason, const ConnectionHealth &atDeath) {
                    const QMutexLocker lock(&mutex);
                    events << QStringLiteral("clientLost");
                    lost.push_back({client, reason, atDeath, client->peerPort(), clock.elapsed()});
                    lostIn = QThread::currentThread();
                },
                Qt::DirectConnection);
    }

    void follow(KeepAliveSocket *client)
    {
        QObject::connect(
                client, &QAbstractSocket::disconnected, &context,
                [this, client] {
                    const QMutexLocker lock(&mutex);
                    events << QStringLiteral("disconnected");
                    if (client->isOpen())
                        readAtDisconnected += client->readAll();
                },
                Qt::DirectConnection);
    }

    std::size_t lostCount() const
    {
        const QMutexLocker lock(&mutex);
        return lost.size();
    }
    QStringList eventList() const
    {
        const QMutexLocker lock(&mutex);
        return events;
    }

    QObject context;
    mutable QMutex mutex;
    QElapsedTimer clock;
    std::vector<Lost> lost;
    QStringList events;
    QByteArray readAtDisconnected;
    QThread *lostIn = nullptr;
};

// A worker thread with an event loop, and the clients moved into it; the
// clients are deleted there before it stops.
class Worker
{
public:
    Worker() { thread.start(); }
    ~Worker()
    {
        for (const QPointer<KeepAliveSocket> &client : std::as_const(clients)) {
            if (client)
                QMetaObject::invokeMethod(
                        client, [client] { delete client.data(); }, Qt::BlockingQueuedConnection);
        }
        thread.quit();
        thread.wait();
    }
    // As an application hands a taken client to a worker.
    void adopt(KeepAliveSocket *client)
    {
        client->setParent(nullptr);
        client->moveToThread(&thread);
        clients.append(client);
    }
    // Runs \a work in the worker thread and waits for it.
    template<typename Work>
    void run(Work work)
    {
        QMetaObject::invokeMethod(&context(), work, Qt::BlockingQueuedConnection);
    }
    QObject &context()
    {
        if (!m_context) {
            m_context = std::make_unique<QObject>();
            m_context->moveToThread(&thread);
        }
        return *m_context;
    }

    QThread thread;
    QList<QPointer<KeepAliveSocket>> clients;

private:
    std::unique_ptr<QObject> m_context;
};

// As the library writes a duration in its messages.
QString durationText(std::chrono::milliseconds value)
{
    if (value.count() != 0 && value.count() % 1000 == 0)
        return QStringLiteral("%1 s").arg(value.count() / 1000);
    return QStringLiteral("%1 ms").arg(value.count());
}

// Creates its own KeepAliveSockets and hands them to the server's care, as
// a subclass with a socket class of its own does.
class OwnSocketServer : public KeepAliveServer
{
public:
    using KeepAliveServer::addPendingClient;
    QList<QPointer<KeepAliveSocket>> created;
    QList<bool> handedOver;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new KeepAliveSocket(this);
        socket->setObjectName(QStringLiteral("own"));
        socket->setKeepAliveOptions(keepAliveOptions());
        if (!socket->setSocketDescriptor(descriptor)) {
            delete socket;
            return;
        }
        created.append(socket);
        handedOver.append(addPendingClient(socket));
    }
};

// Queues plain QTcpSockets, QTcpServer's documented pattern, for the
// connections marked plain; KeepAliveServer's own for the others.
class MixedQueueServer : public KeepAliveServer
{
public:
    QList<bool> plain; //!< per accepted connection, in order
    int accepted = 0;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        if (!plain.value(accepted++)) {
            KeepAliveServer::incomingConnection(descriptor);
            return;
        }
        auto *socket = new QTcpSocket(this);
        if (socket->setSocketDescriptor(descriptor))
            addPendingConnection(socket);
        else
            delete socket;
    }
};

} // namespace

class tst_Server : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void invalidSettingsRejected();
    void propertiesNotifyOnlyOnChange();
    void keepAliveErrorProperty_data();
    void keepAliveErrorProperty();
    void extremeSettings_data();
    void extremeSettings();
    void plainSocketsInThePendingQueue_data();
    void plainSocketsInThePendingQueue();
    void acceptedClientsGetTheOptions();
    void deadClientReported();
    void deadPendingClientFreed();
    void pendingQueueInsideClientLost();
    void resetClientReported();
    void heartbeatTimeoutReported();
    void lossReasonMapping();
    void idleClientInWorkerThreadReaped();
    void deadClientInWorkerThreadReported();
    void clientMovedBetweenThreadsKeptAndCounted();
    void idleTimeoutChangedWhileClientsInWorkerThread();
    void serverDestroyedWithClientsInWorkerThread();
    void serverMovedWithItsClients();
    void orderlyCloseIsNoLoss();
    void idleClientReaped();
    void talkingClientKept();
    void idleClientWithStuckWritesAborted();
    void overLimitRefused();
    void manyClientsOneTimer();
    void pauseHeldWhilePendingClientsDie_data();
    void pauseHeldWhilePendingClientsDie();
    void eachClientAnnouncedOnce();
    void idleReapReadsPastAFullBuffer();
    void bytesBehindAFullBufferAreActivity();
    void lostClientCountedUntilDisconnected();
    void handlersDeleteDuringOneReaping_data();
    void handlersDeleteDuringOneReaping();
    void idleTimeoutCountsFromLastActivity();
    void workerThreadEndsBeforeItsClients_data();
    void workerThreadEndsBeforeItsClients();
    void abortInsideHeartbeatTimeoutReported();
    void subclassHandsItsOwnSockets();

private:
    // A client connected to m_server, and the server's socket for it (taken
    // from the pending queue unless \a take is false).
    QTcpSocket *connectClient(KeepAliveSocket **serverSide, bool take = true,
                              std::unique_ptr<QTcpSocket> client = nullptr);

    std::unique_ptr<KeepAliveServer> m_server;
    std::vector<std::unique_ptr<QTcpSocket>> m_clients;
};

void tst_Server::init()
{
    m_server = std::make_unique<KeepAliveServer>();
    QVERIFY(m_server->setKeepAliveOptions(shortOptions()));
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
}

void tst_Server::cleanup()
{
    m_clients.clear();
    m_server.reset();
}

QTcpSocket *tst_Server::connectClient(KeepAliveSocket **serverSide, bool take,
                                      std::unique_ptr<QTcpSocket> client)
{
    if (!client)
        client = std::make_unique<QTcpSocket>();
    client->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    if (!client->waitForConnected(5000))
        return nullptr;
    const int before = m_server->clientCount();
    QElapsedTimer waited;
    waited.start();
    while (m_server->clientCount() == before && waited.elapsed() < 5000)
        QTest::qWait(10);
    if (m_server->clientCount() == before)
        return nullptr;
    if (take) {
        *serverSide = m_server->nextPendingConnection();
        if (!*serverSide || (*serverSide)->peerPort() != client->localPort())
            return nullptr;
    }
    m_clients.push_back(std::move(client));
    return m_clients.back().get();
}

void tst_Server::invalidSettingsRejected()
{
    KeepAliveServer server;
    QSignalSpy optionsSpy(&server, &KeepAliveServer::keepAliveOptionsChanged);
    QSignalSpy idleSpy(&server, &KeepAliveServer::idleTimeoutChanged);
    QSignalSpy maxSpy(&server, &KeepAliveServer::maxClientsChanged);
    QVERIFY(server.setKeepAliveOptions(shortOptions()));
    QVERIFY(server.setIdleTimeout(5s));
    QVERIFY(server.setMaxClients(10));

    // The same validation and message as KeepAliveSocket's.
    const KeepAliveOptions bad = shortOptions().setProbeCount(200);
    const QString message =
            QStringLiteral("invalid keepalive options: probe count 200 is out of range 1..127");
    QTest::ignoreMessage(QtWarningMsg, qPrintable(message));
    QVERIFY(!server.setKeepAliveOptions(bad));
    QCOMPARE(server.keepAliveError(), QtKeepAlive::KeepAliveError::InvalidOptions);
    QCOMPARE(server.keepAliveErrorString(), message);
    QCOMPARE(server.settingErrorString(), message);
    QCOMPARE(server.keepAliveOptions(), shortOptions());
    KeepAliveSocket socket;
    QTest::ignoreMessage(QtWarningMsg, qPrintable(message));
    QVERIFY(!socket.setKeepAliveOptions(bad));
    QCOMPARE(socket.keepAliveErrorString(), server.keepAliveErrorString());

    QTest::ignoreMessage(QtWarningMsg,
                         "invalid idle timeout: -1 ms is negative (0 switches reaping off)");
    QVERIFY(!server.setIdleTimeout(-1ms));
    QCOMPARE(server.idleTimeout(), 5000ms);
    QCOMPARE(server.settingErrorString(),
             QStringLiteral("invalid idle timeout: -1 ms is negative (0 switches reaping off)"));

    QTest::ignoreMessage(QtWarningMsg,
                         "invalid maximum number of clients: -3 is negative (0 means unlimited)");
    QVERIFY(!server.setMaxClients(-3));
    QCOMPARE(server.maxClients(), 10);
    QVERIFY(server.settingErrorString().contains(QStringLiteral("-3")));

    QCOMPARE(optionsSpy.count(), 1);
    QCOMPARE(idleSpy.count(), 1);
    QCOMPARE(maxSpy.count(), 1);

    // An accepted setting clears the message.
    QVERIFY(server.setMaxClients(0));
    QVERIFY(server.settingErrorString().isEmpty());
    QVERIFY(server.setKeepAliveOptions(shortOptions()));
    QCOMPARE(server.keepAliveError(), QtKeepAlive::KeepAliveError::NoError);
    QVERIFY(server.keepAliveErrorString().isEmpty());
}

void tst_Server::propertiesNotifyOnlyOnChange()
{
    KeepAliveServer server;
    QSignalSpy optionsSpy(&server, &KeepAliveServer::keepAliveOptionsChanged);
    QSignalSpy idleSpy(&server, &KeepAliveServer::idleTimeoutChanged);
    QSignalSpy maxSpy(&server, &KeepAliveServer::maxClientsChanged);
    QVERIFY(server.setProperty("idleTimeout", QVariant::fromValue(std::chrono::milliseconds(3s))));
    QVERIFY(server.setProperty("maxClients", 4));
    QVERIFY(server.setProperty("keepAliveOptions", QVariant::fromValue(shortOptions())));
    QVERIFY(server.setIdleTimeout(3s));
    QVERIFY(server.setMaxClients(4));
    QVERIFY(server.setKeepAliveOptions(shortOptions()));
    QCOMPARE(idleSpy.count(), 1);
    QCOMPARE(maxSpy.count(), 1);
    QCOMPARE(optionsSpy.count(), 1);
    QCOMPARE(server.property("idleTimeout").value<std::chrono::milliseconds>(), 3000ms);
    QCOMPARE(server.property("maxClients").toInt(), 4);
    QCOMPARE(server.property("keepAliveOptions").value<KeepAliveOptions>(), shortOptions());
}

void tst_Server::keepAliveErrorProperty_data()
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
}

void tst_Server::keepAliveErrorProperty()
{
    using Error = QtKeepAlive::KeepAliveError;
    QFETCH(QStringList, steps);
    QFETCH(QList<Error>, changes);
    QFETCH(int, occurred);
    QFETCH(Error, finalError);

    KeepAliveServer server;
    const QMetaObject *meta = server.metaObject();
    const QMetaProperty property = meta->property(meta->indexOfProperty("keepAliveError"));
    QVERIFY(property.isValid());
    QVERIFY(property.isReadable());
    QVERIFY(!property.isWritable());
    QCOMPARE(property.notifySignal().name(), QByteArray("keepAliveErrorChanged"));
    QCOMPARE(property.read(&server).value<Error>(), Error::NoError);
    QSignalSpy changed(&server, &KeepAliveServer::keepAliveErrorChanged);
    QSignalSpy occurrences(&server, &KeepAliveServer::keepAliveErrorOccurred);
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

void tst_Server::extremeSettings_data()
{
    QTest::addColumn<quint32>("seed");
    // Fixed seeds: a failure is reproduced by its row.
    for (const quint32 seed : {1u, 20240611u, 0xC0FFEEu})
        QTest::addRow("seed %u", seed) << seed;
}

// setIdleTimeout() and setMaxClients() with values at and beyond the edges
// of QTimer (int milliseconds), the clock and milliseconds, with a client
// in the server's care (so that the idle timer is armed): each is accepted
// and reads back, or rejected with a message naming it; never a Qt warning
// (a wrapped QTimer interval: "Timers cannot have negative intervals"),
// never UB.
void tst_Server::extremeSettings()
{
    using std::chrono::hours;
    using std::chrono::milliseconds;
    QFETCH(quint32, seed);
    qInfo("seed %u", seed);
    QRandomGenerator random(seed);

    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QVERIFY(connectClient(&serverSide));

    constexpr qint64 intMax = std::numeric_limits<int>::max();
    const std::vector<milliseconds> durations = {0ms,
                                                 -1ms,
                                                 1ms,
                                                 milliseconds(intMax),
                                                 milliseconds(intMax + 1),
                                                 hours(24 * 30),
                                                 hours(720),
                                                 hours(24 * 365 * 300),
                                                 milliseconds::max(),
                                                 milliseconds::min(),
                                                 -hours(24 * 365)};
    const std::vector<int> counts = {0, -1, 1, std::numeric_limits<int>::max(),
                                     std::numeric_limits<int>::min()};

    WarningTrap trap;
    for (int call = 0; call < 200; ++call) {
        const bool idle = random.bounded(2) == 0;
        // Mostly the edges, sometimes anything the type can hold.
        const milliseconds duration = random.bounded(4) == 0
                ? milliseconds(qint64(random.generate64()))
                : durations.at(random.bounded(int(durations.size())));
        const int count = random.bounded(4) == 0 ? int(random.generate())
                                                 : counts.at(random.bounded(int(counts.size())));
        const QString what = idle
                ? QStringLiteral("call %1: setIdleTimeout(%2)").arg(call).arg(durationText(duration))
                : QStringLiteral("call %1: setMaxClients(%2)").arg(call).arg(count);
        const milliseconds timeoutBefore = m_server->idleTimeout();
        const int maxBefore = m_server->maxClients();
        trap.warnings.clear();

        const bool accepted =
                idle ? m_server->setIdleTimeout(duration) : m_server->setMaxClients(count);
        if (accepted) {
            QVERIFY2(idle ? m_server->idleTimeout() == duration : m_server->maxClients() == count,
                     qPrintable(what));
            QVERIFY2(m_server->settingErrorString().isEmpty(), qPrintable(what));
            QVERIFY2(trap.warnings.isEmpty(),
                     qPrintable(what + QStringLiteral(": ") + trap.warnings.join(u'|')));
        } else {
            QCOMPARE(m_server->idleTimeout(), timeoutBefore);
            QCOMPARE(m_server->maxClients(), maxBefore);
            const QString message = m_server->settingErrorString();
            const QString value = idle ? durationText(duration) : QString::number(count);
            QVERIFY2(message.contains(value), qPrintable(what + QStringLiteral(": ") + message));
            // The library's own warning is the message; nothing else.
            QCOMPARE(trap.warnings, QStringList(message));
        }
    }
    // Nobody is reaped by a wrapped wait, and reaping still works.
    for (const milliseconds timeout :
         {milliseconds(hours(720)), milliseconds(intMax + 1), milliseconds::max()}) {
        QVERIFY(m_server->setIdleTimeout(timeout));
        QTest::qWait(20);
        QVERIFY2(watch.lost.empty(), qPrintable(durationText(timeout)));
    }
    trap.warnings.clear();
    QVERIFY(m_server->setIdleTimeout(300ms));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QCOMPARE(watch.lost.front().reason, Loss::IdleTimeout);
    QVERIFY2(trap.warnings.isEmpty(), qPrintable(trap.warnings.join(u'|')));
}

void tst_Server::plainSocketsInThePendingQueue_data()
{
    QTest::addColumn<QList<bool>>("plain");
    QTest::newRow("plain") << QList<bool>{true};
    QTest::newRow("plain, then KeepAliveSocket") << QList<bool>{true, false};
    QTest::newRow("KeepAliveSocket, then plain") << QList<bool>{false, true};
    QTest::newRow("plain between two") << QList<bool>{false, true, false};
}

// A subclass that queues plain QTcpSockets with addPendingConnection():
// nextPendingConnection() returns nullptr for one (never a plain socket cast
// to KeepAliveSocket) and leaves it first in the queue, where
// QTcpServer::nextPendingConnection() hands it out; the order is kept.
void tst_Server::plainSocketsInThePendingQueue()
{
    QFETCH(QList<bool>, plain);
    MixedQueueServer server;
    server.plain = plain;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    std::vector<std::unique_ptr<QTcpSocket>> clients;
    for (int i = 0; i < plain.size(); ++i) {
        clients.push_back(std::make_unique<QTcpSocket>());
        clients.back()->connectToHost(QHostAddress::LocalHost, server.serverPort());
        QVERIFY(clients.back()->waitForConnected(5000));
        QTRY_COMPARE_WITH_TIMEOUT(server.accepted, i + 1, 5000); // accepted in this order
    }
    for (int i = 0; i < plain.size(); ++i) {
        const quint16 port = clients[i]->localPort();
        QVERIFY(server.hasPendingConnections());
        KeepAliveSocket *next = server.nextPendingConnection();
        if (!plain[i]) {
            QVERIFY(next);
            QCOMPARE(next->peerPort(), port);
            continue;
        }
        QCOMPARE(next, nullptr);
        QVERIFY(server.hasPendingConnections());
        QCOMPARE(server.nextPendingConnection(), nullptr); // still first
        QTcpSocket *socket = server.QTcpServer::nextPendingConnection();
        QVERIFY(socket);
        QVERIFY(!qobject_cast<KeepAliveSocket *>(socket));
        QCOMPARE(socket->peerPort(), port);
    }
    QVERIFY(!server.hasPendingConnections());
    QCOMPARE(server.nextPendingConnection(), nullptr);
}

void tst_Server::acceptedClientsGetTheOptions()
{
    KeepAliveSocket *serverSide = nullptr;
    QVERIFY(connectClient(&serverSide));
    QCOMPARE(serverSide->parent(), m_server.get());
    QCOMPARE(serverSide->keepAliveOptions(), shortOptions());
    const EffectiveKeepAliveOptions effective = serverSide->effectiveKeepAliveOptions();
    QCOMPARE(effective.idle.value_or(0ms), 1000ms);
    QCOMPARE(effective.probeCount.value_or(0), 2);
    QCOMPARE(m_server->clientCount(), 1);
}

void tst_Server::deadClientReported()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    // Bytes the application never read: still readable in disconnected().
    client->write("last words");
    QVERIFY(client->waitForBytesWritten(5000));
    QTRY_COMPARE_WITH_TIMEOUT(serverSide->bytesAvailable(), qint64(10), 5000);
    QCOMPARE(m_server->clientCount(), 1);

    QString problem;
    QVERIFY2(QtKeepAliveTesting::silence(client, &problem), qPrintable(problem));
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), boundMs() + 7000);
    const qint64 elapsed = clock.elapsed();
    qInfo("dead client reported after %lld ms (bound %lld ms)", elapsed, boundMs());
    QVERIFY2(elapsed <= boundMs() + 2000, qPrintable(QString::number(elapsed)));

    const Lost &lost = watch.lost.front();
    QCOMPARE(lost.client.data(), serverSide);
    QCOMPARE(lost.reason, Loss::KeepAliveTimeout);
    QVERIFY(lost.atDeath.isValid());
    if (qEnvironmentVariableIntValue("QTKEEPALIVE_TESTING_NO_READ_LOOK") != 0) {
        // Met without the kernel look (KeepAliveSocket, "Cost"): only the state is known.
        QCOMPARE(lost.atDeath.state, ConnectionHealth::TcpState::Closed);
        QVERIFY(!lost.atDeath.probes);
    } else {
        QCOMPARE(lost.atDeath.probes.value_or(0) > 0, true);
    }
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 2000);
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("clientLost"), QStringLiteral("deadPeer"),
                          QStringLiteral("errorOccurred"), QStringLiteral("disconnected")}));
    QCOMPARE(watch.readAtDisconnected, QByteArray("last words"));
    QCOMPARE(m_server->clientCount(), 0);

    // Taken clients stay the application's.
    QTest::qWait(500);
    QCOMPARE(watch.lost.size(), std::size_t(1));
    QVERIFY(!lost.client.isNull());
}

void tst_Server::deadPendingClientFreed()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *unused = nullptr;
    QTcpSocket *alive = connectClient(&unused, false);
    QVERIFY(alive);
    QTcpSocket *doomed = connectClient(&unused, false);
    QVERIFY(doomed);
    QTcpSocket *aliveToo = connectClient(&unused, false);
    QVERIFY(aliveToo);
    QCOMPARE(m_server->clientCount(), 3);

    QVERIFY(QtKeepAliveTesting::silence(doomed));
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), boundMs() + 7000);
    const qint64 elapsed = clock.elapsed();
    qInfo("dead pending client reported after %lld ms (bound %lld ms)", elapsed, boundMs());
    QVERIFY(elapsed <= boundMs() + 2000);
    const Lost lost = watch.lost.front();
    QCOMPARE(lost.reason, Loss::KeepAliveTimeout);
    QCOMPARE(lost.peerPort, doomed->localPort());
    QCOMPARE(m_server->clientCount(), 2);
    // Freed by the server, and never handed out.
    QTRY_VERIFY_WITH_TIMEOUT(lost.client.isNull(), 2000);
    KeepAliveSocket *first = m_server->nextPendingConnection();
    QVERIFY(first);
    QCOMPARE(first->peerPort(), alive->localPort());
    KeepAliveSocket *second = m_server->nextPendingConnection();
    QVERIFY(second);
    QCOMPARE(second->peerPort(), aliveToo->localPort());
    QVERIFY(!m_server->hasPendingConnections());
    QVERIFY(!m_server->nextPendingConnection());
    QCOMPARE(first->state(), QAbstractSocket::ConnectedState);
    QCOMPARE(watch.lost.size(), std::size_t(1));
}

// A handler that takes every pending connection never gets the lost one.
void tst_Server::pendingQueueInsideClientLost()
{
    KeepAliveSocket *unused = nullptr;
    QTcpSocket *alive = connectClient(&unused, false);
    QVERIFY(alive);
    QTcpSocket *doomed = connectClient(&unused, false);
    QVERIFY(doomed);
    QList<KeepAliveSocket *> taken;
    QPointer<KeepAliveSocket> lostClient;
    bool lost = false;
    connect(m_server.get(), &KeepAliveServer::clientLost, this, [&](KeepAliveSocket *client) {
        lost = true;
        lostClient = client;
        while (KeepAliveSocket *socket = m_server->nextPendingConnection())
            taken.append(socket);
    });
    QVERIFY(QtKeepAliveTesting::silence(doomed));
    QTRY_VERIFY_WITH_TIMEOUT(lost, boundMs() + 7000);
    QCOMPARE(taken.size(), 1);
    QCOMPARE(taken.first()->peerPort(), alive->localPort());
    QTRY_VERIFY_WITH_TIMEOUT(lostClient.isNull(), 2000);
    QCOMPARE(taken.first()->state(), QAbstractSocket::ConnectedState);
    QVERIFY(!m_server->nextPendingConnection());
}

void tst_Server::resetClientReported()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    QVERIFY(QtKeepAliveTesting::resetConnection(client));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QCOMPARE(watch.lost.front().reason, Loss::ConnectionReset);
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 2000);
    QCOMPARE(watch.events.first(), QStringLiteral("clientLost"));
    QCOMPARE(m_server->clientCount(), 0);
}

// A client that is alive (its kernel answers every keepalive probe) but says
// nothing: the heartbeat on the accepted socket catches it, and the server
// reports it once as HeartbeatTimeout, before the socket's disconnected().
void tst_Server::heartbeatTimeoutReported()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    auto *heartbeat = new KeepAliveHeartbeat(serverSide);
    QVERIFY(heartbeat->setInterval(500ms));
    QVERIFY(heartbeat->setMaxMissed(1));
    QVERIFY(heartbeat->setJitter(0ms));
    const qint64 bound = heartbeat->detectionBound().count();
    watch.clock.restart();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), int(bound) + 3000);
    qInfo("silent live client: HeartbeatTimeout after %lld ms, bound %lld ms",
          watch.lost.front().at, bound);
    QCOMPARE(watch.lost.front().reason, Loss::HeartbeatTimeout);
    QVERIFY(watch.lost.front().at <= bound + 1000);
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 3000);
    QCOMPARE(watch.events.first(), QStringLiteral("clientLost"));
    QCOMPARE(watch.events.count(QStringLiteral("deadPeer")), 1);
    QCOMPARE(m_server->clientCount(), 0);
    QTest::qWait(300);
    QCOMPARE(watch.lost.size(), std::size_t(1));
}

void tst_Server::lossReasonMapping()
{
    using Dead = QtKeepAlive::DeadPeerReason;
    using QtKeepAlive::clientLossReason;
    QCOMPARE(clientLossReason(Dead::KeepAliveTimeout), Loss::KeepAliveTimeout);
    QCOMPARE(clientLossReason(Dead::RetransmissionTimeout), Loss::RetransmissionTimeout);
    QCOMPARE(clientLossReason(Dead::ConnectionReset), Loss::ConnectionReset);
    QCOMPARE(clientLossReason(Dead::HostUnreachable), Loss::HostUnreachable);
    QCOMPARE(clientLossReason(Dead::NetworkUnreachable), Loss::NetworkUnreachable);
    QCOMPARE(clientLossReason(Dead::HeartbeatTimeout), Loss::HeartbeatTimeout);
    QCOMPARE(clientLossReason(Dead::OtherError), Loss::OtherError);
    QCOMPARE(clientLossReason(Dead::None), Loss::OtherError);
    // The shared values are declared in the same order.
    QCOMPARE(int(Loss::OtherError), int(Dead::OtherError) - 1);
}

// A client moved to a worker thread stays in the server's care: counted,
// reaped by a timer of its own thread (the server's thread is blocked
// meanwhile), reported there before its disconnected() handlers.
void tst_Server::idleClientInWorkerThreadReaped()
{
    constexpr auto timeout = 1000ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    ThreadedWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QElapsedTimer clock;
    clock.start(); // before the last byte: the reap is due no earlier than this + timeout
    client->write("unread");
    QVERIFY(client->waitForBytesWritten(5000));
    QTRY_COMPARE_WITH_TIMEOUT(serverSide->bytesAvailable(), qint64(6), 5000);
    Worker worker;
    worker.adopt(serverSide);
    watch.follow(serverSide);
    QCOMPARE(m_server->clientCount(), 1);

    // The server's thread runs no event loop for twice the timeout.
    QThread::msleep(2 * timeout.count());
    QCOMPARE(watch.lostCount(), std::size_t(1));
    const Lost lost = watch.lost.front();
    qInfo("idle client in a worker thread reaped after %lld ms (idle timeout %lld ms)", lost.at,
          qint64(timeout.count()));
    QVERIFY2(lost.at >= timeout.count() - 50, qPrintable(QString::number(lost.at)));
    QVERIFY2(lost.at <= clock.elapsed(), qPrintable(QString::number(lost.at)));
    QVERIFY2(lost.at <= timeout.count() + 1000, qPrintable(QString::number(lost.at)));
    QCOMPARE(watch.lostIn, &worker.thread);
    QCOMPARE(lost.reason, Loss::IdleTimeout);
    QVERIFY(lost.atDeath.isValid());
    QTRY_COMPARE_WITH_TIMEOUT(
            watch.eventList(),
            QStringList({QStringLiteral("clientLost"), QStringLiteral("disconnected")}), 2000);
    QCOMPARE(watch.readAtDisconnected, QByteArray("unread"));
    QCOMPARE(m_server->clientCount(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(client->state(), QAbstractSocket::UnconnectedState, 5000);
}

// A dead client in a worker thread is reported there with its reason.
void tst_Server::deadClientInWorkerThreadReported()
{
    ThreadedWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    Worker worker;
    worker.adopt(serverSide);
    watch.follow(serverSide);
    QString problem;
    QVERIFY2(QtKeepAliveTesting::silence(client, &problem), qPrintable(problem));
    const qint64 silencedAt = watch.clock.elapsed();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(1), boundMs() + 7000);
    const qint64 elapsed = watch.lost.front().at - silencedAt;
    qInfo("dead client in a worker thread reported after %lld ms (bound %lld ms)", elapsed,
          boundMs());
    QVERIFY2(elapsed <= boundMs() + 2000, qPrintable(QString::number(elapsed)));
    QCOMPARE(watch.lost.front().reason, Loss::KeepAliveTimeout);
    QVERIFY(watch.lost.front().atDeath.isValid());
    QCOMPARE(watch.lostIn, &worker.thread);
    QTRY_COMPARE_WITH_TIMEOUT(
            watch.eventList(),
            QStringList({QStringLiteral("clientLost"), QStringLiteral("disconnected")}), 2000);
    QCOMPARE(m_server->clientCount(), 0);
}

// Activity in a worker thread keeps a client; the limit counts it; moved
// back, the server's thread reaps it once it falls silent.
void tst_Server::clientMovedBetweenThreadsKeptAndCounted()
{
    constexpr auto timeout = 1000ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    QVERIFY(m_server->setMaxClients(1));
    ThreadedWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    Worker worker;
    worker.adopt(serverSide);
    std::atomic<qint64> received{0};
    QObject::connect(
            serverSide, &QIODevice::readyRead, &watch.context,
            [&received, serverSide] { received += serverSide->readAll().size(); },
            Qt::DirectConnection);

    // Over the limit while the only client lives in the worker.
    auto extra = std::make_unique<QTcpSocket>();
    QSignalSpy extraClosed(extra.get(), &QAbstractSocket::disconnected);
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(QStringLiteral("^refused client .*maxClients 1")));
    extra->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    QTRY_COMPARE_WITH_TIMEOUT(extraClosed.count(), 1, 5000);
    QCOMPARE(watch.lostCount(), std::size_t(1));
    QCOMPARE(watch.lost.front().reason, Loss::RefusedOverLimit);

    QTimer talk;
    connect(&talk, &QTimer::timeout, client, [client] { client->write("x"); });
    talk.start(timeout / 2);
    QTest::qWait(int(3 * timeout.count()));
    QCOMPARE(watch.lostCount(), std::size_t(1));
    QVERIFY2(received >= 4, qPrintable(QString::number(received)));

    // Back to the server's thread (moveToThread() from the client's own).
    QThread *const testThread = QThread::currentThread();
    worker.run([serverSide, testThread] { serverSide->moveToThread(testThread); });
    QCOMPARE(serverSide->thread(), testThread);
    QTest::qWait(int(2 * timeout.count()));
    QCOMPARE(watch.lostCount(), std::size_t(1));
    QCOMPARE(m_server->clientCount(), 1);
    talk.stop();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lostCount(), std::size_t(2), int(timeout.count()) + 2000);
    QCOMPARE(watch.lost.back().reason, Loss::IdleTimeout);
    QCOMPARE(watch.lostIn, testThread);
    delete serverSide;
}

// Changing the idle timeout reaches the workers' timers; a worker's
// handler may query the server, abort and delete the client.
void tst_Server::idleTimeoutChangedWhileClientsInWorkerThread()
{
    QVERIFY(m_server->setIdleTimeout(500ms));
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QPointer<KeepAliveSocket> guard(serverSide);
    Worker worker;
    worker.adopt(serverSide);
    QVERIFY(m_server->setIdleTimeout(0ms));
    std::atomic<int> lost{0};
    std::atomic<int> countInHandler{-1};
    std::atomic<QThread *> lostIn{nullptr};
    QObject context;
    connect(
            m_server.get(), &KeepAliveServer::clientLost, &context,
            [&](KeepAliveSocket *lostClient, Loss reason) {
                countInHandler = m_server->clientCount();
                lostIn = QThread::currentThread();
                if (reason == Loss::IdleTimeout)
                    ++lost;
                lostClient->abort();
                lostClient->deleteLater();
            },
            Qt::DirectConnection);
    QTest::qWait(1500);
    QCOMPARE(lost.load(), 0);
    QCOMPARE(client->state(), QAbstractSocket::ConnectedState);

    QElapsedTimer clock;
    clock.start();
    // Counted from the client's last activity, 1.5 s ago: due at once.
    QVERIFY(m_server->setIdleTimeout(800ms));
    QTRY_COMPARE_WITH_TIMEOUT(lost.load(), 1, 3000);
    const qint64 elapsed = clock.elapsed();
    QVERIFY2(elapsed <= 500, qPrintable(QString::number(elapsed)));
    // Lost, not yet disconnected: still counted in the handler.
    QCOMPARE(countInHandler.load(), 1);
    QCOMPARE(lostIn.load(), &worker.thread);
    QTRY_VERIFY_WITH_TIMEOUT(guard.isNull(), 2000);
    QTRY_COMPARE_WITH_TIMEOUT(client->state(), QAbstractSocket::UnconnectedState, 5000);
    QTest::qWait(300);
    QCOMPARE(lost.load(), 1);
}

// Destroying the server while clients live in a worker: they become the
// application's alone, with no report and no reaping afterwards.
void tst_Server::serverDestroyedWithClientsInWorkerThread()
{
    constexpr auto timeout = 500ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    auto watch = std::make_unique<ThreadedWatch>(m_server.get());
    KeepAliveSocket *moved = nullptr;
    QTcpSocket *movedClient = connectClient(&moved);
    QVERIFY(movedClient);
    KeepAliveSocket *stays = nullptr;
    QVERIFY(connectClient(&stays));
    QPointer<KeepAliveSocket> staysGuard(stays);
    Worker worker;
    worker.adopt(moved);
    QCOMPARE(m_server->clientCount(), 2);
    m_server.reset();
    QVERIFY(staysGuard.isNull()); // the server's child went with it
    QTest::qWait(int(3 * timeout.count()));
    QCOMPARE(watch->lostCount(), std::size_t(0));
    QCOMPARE(movedClient->state(), QAbstractSocket::ConnectedState);
    QByteArray echoed;
    worker.run([moved] {
        QObject::connect(moved, &QIODevice::readyRead, moved,
                         [moved] { moved->write(moved->readAll()); });
    });
    movedClient->write("still mine");
    QTRY_COMPARE_WITH_TIMEOUT(echoed += movedClient->readAll(), QByteArray("still mine"), 5000);
}

// Clients that are the server's children move with it and stay in its care;
// its one timer follows it.
void tst_Server::serverMovedWithItsClients()
{
    QVERIFY(m_server->setIdleTimeout(1000ms));
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    std::atomic<int> lost{0};
    std::atomic<int> reason{-1};
    connect(m_server.get(), &KeepAliveServer::clientLost, m_server.get(),
            [&](KeepAliveSocket *, Loss why) {
                reason = int(why);
                ++lost;
            });
    QThread *const testThread = QThread::currentThread();
    QThread worker;
    worker.start();
    const auto stopWorker = qScopeGuard([&] {
        QMetaObject::invokeMethod(
                m_server.get(), [this, testThread] { m_server->moveToThread(testThread); },
                Qt::BlockingQueuedConnection);
        worker.quit();
        worker.wait();
    });
    m_server->moveToThread(&worker);
    QCOMPARE(serverSide->thread(), &worker);
    int count = -1;
    QMetaObject::invokeMethod(
            m_server.get(), [&] { count = m_server->clientCount(); }, Qt::BlockingQueuedConnection);
    QCOMPARE(count, 1);
    QSignalSpy clientClosed(client, &QAbstractSocket::disconnected);
    QTRY_COMPARE_WITH_TIMEOUT(clientClosed.count(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(lost.load(), 1, 2000);
    QCOMPARE(reason.load(), int(Loss::IdleTimeout));
}

void tst_Server::orderlyCloseIsNoLoss()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    client->disconnectFromHost();
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 5000);
    QCOMPARE(m_server->clientCount(), 0);
    QTest::qWait(200);
    QVERIFY(watch.lost.empty());
}

void tst_Server::idleClientReaped()
{
    constexpr auto timeout = 1500ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    QSignalSpy clientClosed(client, &QAbstractSocket::disconnected);

    QElapsedTimer clock;
    clock.start(); // before the last byte: the reap is due no earlier than this + timeout
    client->write("unread");
    QVERIFY(client->waitForBytesWritten(5000));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 10000);
    const qint64 elapsed = clock.elapsed();
    qInfo("idle client reaped after %lld ms (idle timeout %lld ms)", elapsed,
          qint64(timeout.count()));
    QVERIFY2(elapsed >= timeout.count(), qPrintable(QString::number(elapsed)));
    QVERIFY2(elapsed <= timeout.count() + 1000, qPrintable(QString::number(elapsed)));

    const Lost &lost = watch.lost.front();
    QCOMPARE(lost.client.data(), serverSide);
    QCOMPARE(lost.reason, Loss::IdleTimeout);
    QVERIFY(lost.atDeath.isValid());
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 2000);
    // No dead peer, no error: an orderly close of our own.
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("clientLost"), QStringLiteral("disconnected")}));
    QCOMPARE(watch.readAtDisconnected, QByteArray("unread"));
    QCOMPARE(serverSide->deadPeerReason(), QtKeepAlive::DeadPeerReason::None);
    QCOMPARE(m_server->clientCount(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(clientClosed.count(), 1, 5000);
}

void tst_Server::talkingClientKept()
{
    constexpr auto timeout = 1000ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QByteArray received;
    connect(serverSide, &QIODevice::readyRead, this, [&] { received += serverSide->readAll(); });
    QTimer talk;
    connect(&talk, &QTimer::timeout, client, [client] { client->write("x"); });
    talk.start(timeout / 2);
    QElapsedTimer clock;
    clock.start();
    QTest::qWait(int(5 * timeout.count()));
    talk.stop();
    qInfo("talking client kept for %lld ms (idle timeout %lld ms), %lld bytes", clock.elapsed(),
          qint64(timeout.count()), qint64(received.size()));
    QVERIFY(watch.lost.empty());
    QCOMPARE(serverSide->state(), QAbstractSocket::ConnectedState);
    QVERIFY(received.size() >= 8);
    QCOMPARE(m_server->clientCount(), 1);
    // Once it falls silent, it goes.
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), int(timeout.count()) + 2000);
    QCOMPARE(watch.lost.front().reason, Loss::IdleTimeout);
}

// An idle client that stopped reading: our queued data cannot leave, so
// disconnectFromHost() alone would leave it Closing for ever.
void tst_Server::idleClientWithStuckWritesAborted()
{
    constexpr auto timeout = 1000ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    client->setReadBufferSize(1); // the client application stops reading
    serverSide->write(QByteArray(32 * 1024 * 1024, 'z'));
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QCOMPARE(watch.lost.front().reason, Loss::IdleTimeout);
    QCOMPARE(serverSide->state(), QAbstractSocket::ClosingState);
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 5000);
    const qint64 closedAfter = clock.elapsed();
    qInfo("idle client with stuck writes closed after %lld ms (idle timeout %lld ms, grace 2 s)",
          closedAfter, qint64(timeout.count()));
    QVERIFY2(closedAfter <= timeout.count() + 2000 + 1000, qPrintable(QString::number(closedAfter)));
    QCOMPARE(serverSide->state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(watch.lost.size(), std::size_t(1));
    QVERIFY(!watch.events.contains(QStringLiteral("deadPeer")));
}

void tst_Server::overLimitRefused()
{
    QVERIFY(m_server->setMaxClients(2));
    ServerWatch watch(m_server.get());
    KeepAliveSocket *first = nullptr;
    QTcpSocket *firstClient = connectClient(&first);
    QVERIFY(firstClient);
    KeepAliveSocket *unused = nullptr;
    QVERIFY(connectClient(&unused, false)); // pending clients count too
    QCOMPARE(m_server->clientCount(), 2);

    auto extra = std::make_unique<QTcpSocket>();
    QSignalSpy extraClosed(extra.get(), &QAbstractSocket::disconnected);
    QTest::ignoreMessage(
            QtWarningMsg,
            QRegularExpression(QStringLiteral(
                    "^refused client 127\\.0\\.0\\.1:\\d+: the server already has 2 clients "
                    "\\(maxClients 2\\)$")));
    extra->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    QVERIFY(extra->waitForConnected(5000));
    const quint16 extraPort = extra->localPort();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    const Lost lost = watch.lost.front();
    QCOMPARE(lost.reason, Loss::RefusedOverLimit);
    QCOMPARE(lost.peerPort, extraPort);
    QVERIFY(!lost.atDeath.isValid());
    QTRY_COMPARE_WITH_TIMEOUT(extraClosed.count(), 1, 5000);
    QCOMPARE(m_server->clientCount(), 2);
    QTRY_VERIFY_WITH_TIMEOUT(lost.client.isNull(), 2000);
    // The refused client never reaches the queue: only the pending one is there.
    KeepAliveSocket *pending = m_server->nextPendingConnection();
    QVERIFY(pending);
    QVERIFY(pending->peerPort() != extraPort);
    QVERIFY(!m_server->nextPendingConnection());

    // A client leaves; the next one is accepted.
    firstClient->disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), 1, 5000);
    KeepAliveSocket *next = nullptr;
    QTcpSocket *nextClient = connectClient(&next);
    QVERIFY(nextClient);
    QCOMPARE(next->state(), QAbstractSocket::ConnectedState);
    QCOMPARE(m_server->clientCount(), 2);
    QCOMPARE(watch.lost.size(), std::size_t(1));
    QVERIFY(m_server->isListening());
}

void tst_Server::manyClientsOneTimer()
{
    constexpr int Total = 2000;
    constexpr int Silent = 300;
    constexpr auto timeout = 2000ms;
    m_server = std::make_unique<KeepAliveServer>();
    m_server->setListenBacklogSize(Total + 100);
    m_server->setMaxPendingConnections(Total + 100);
    QVERIFY(m_server->setIdleTimeout(timeout));
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
    ServerWatch watch(m_server.get());

    // The server echoes what it receives.
    connect(m_server.get(), &QTcpServer::newConnection, this, [this] {
        while (KeepAliveSocket *socket = m_server->nextPendingConnection())
            connect(socket, &QIODevice::readyRead, socket,
                    [socket] { socket->write(socket->readAll()); });
    });

    QElapsedTimer total;
    total.start();
    std::vector<std::unique_ptr<QTcpSocket>> clients;
    clients.reserve(Total);
    QHash<quint16, int> indexByPort;
    std::vector<QByteArray> echoed(Total);
    for (int i = 0; i < Total; ++i) {
        auto client = std::make_unique<QTcpSocket>();
        connect(client.get(), &QIODevice::readyRead, this,
                [&echoed, i, socket = client.get()] { echoed[i] += socket->readAll(); });
        client->connectToHost(QHostAddress::LocalHost, m_server->serverPort());
        clients.push_back(std::move(client));
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), Total, 30000);
    for (int i = 0; i < Total; ++i) {
        QTRY_COMPARE_WITH_TIMEOUT(clients[i]->state(), QAbstractSocket::ConnectedState, 5000);
        indexByPort.insert(clients[i]->localPort(), i);
    }
    qInfo("%d clients connected in %lld ms", Total, total.elapsed());

    // Everyone talks every 500 ms; then the first Silent clients stop at once.
    int talkers = Total;
    std::vector<qsizetype> sent(Total, 0);
    QTimer talk;
    connect(&talk, &QTimer::timeout, this, [&] {
        for (int i = Total - talkers; i < Total; ++i) {
            clients[i]->write("p");
            ++sent[i];
        }
    });
    talk.start(500);
    QTest::qWait(int(timeout.count()) + 500);
    QVERIFY(watch.lost.empty());
    talkers = Total - Silent;
    QElapsedTimer sinceSilence;
    sinceSilence.start();
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(Silent), int(timeout.count()) + 5000);
    const qint64 reapedAfter = sinceSilence.elapsed();
    QTest::qWait(1000); // nobody else goes
    talk.stop();
    // The last echoes, however late a loaded machine delivers them.
    for (int i = Silent; i < Total; ++i)
        QTRY_COMPARE_WITH_TIMEOUT(echoed[i].size(), sent[i], 10000);
    qInfo("%d silent clients of %d reaped %lld ms after they fell silent (idle timeout %lld ms)",
          Silent, Total, reapedAfter, qint64(timeout.count()));
    QCOMPARE(watch.lost.size(), std::size_t(Silent));
    QSet<int> reaped;
    for (const Lost &lost : watch.lost) {
        QCOMPARE(lost.reason, Loss::IdleTimeout);
        const int index = indexByPort.value(lost.peerPort, -1);
        QVERIFY2(index >= 0 && index < Silent, qPrintable(QString::number(index)));
        reaped.insert(index);
    }
    QCOMPARE(reaped.size(), Silent);
    QCOMPARE(m_server->clientCount(), Total - Silent);
    for (int i = 0; i < Silent; ++i)
        QTRY_COMPARE_WITH_TIMEOUT(clients[i]->state(), QAbstractSocket::UnconnectedState, 5000);

    // The others still echo.
    for (int i = Silent; i < Total; ++i) {
        echoed[i].clear();
        clients[i]->write("echo");
    }
    for (int i = Silent; i < Total; ++i) {
        QTRY_COMPARE_WITH_TIMEOUT(echoed[i], QByteArray("echo"), 5000);
        QCOMPARE(clients[i]->state(), QAbstractSocket::ConnectedState);
    }
    qInfo("%d clients still echoing; whole test %lld ms", Total - Silent, total.elapsed());
    QCOMPARE(watch.lost.size(), std::size_t(Silent));
    clients.clear();
}

// QTcpServer's pauseAccepting() holds while pending clients die or are
// reaped: their removal from the queue must not resume accepting.
void tst_Server::pauseHeldWhilePendingClientsDie_data()
{
    QTest::addColumn<bool>("reaped");
    QTest::newRow("pending client reset") << false;
    QTest::newRow("pending clients reaped as idle") << true;
}

void tst_Server::pauseHeldWhilePendingClientsDie()
{
    QFETCH(bool, reaped);
    ServerWatch watch(m_server.get());
    KeepAliveSocket *unused = nullptr;
    QTcpSocket *doomed = connectClient(&unused, false);
    QVERIFY(doomed);
    QVERIFY(connectClient(&unused, false));
    m_server->pauseAccepting();
    QSignalSpy accepted(m_server.get(), &QTcpServer::newConnection);
    // The kernel completes this one's handshake; the paused server must not take it.
    QTcpSocket waiting;
    waiting.connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    QVERIFY(waiting.waitForConnected(5000));
    if (reaped)
        QVERIFY(m_server->setIdleTimeout(500ms));
    else
        QVERIFY(QtKeepAliveTesting::resetConnection(doomed));
    const std::size_t losses = reaped ? 2 : 1;
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), losses, 5000);
    QTest::qWait(500);
    // The public-API-only mode cannot see that accepting was paused: taking
    // the queue resumes it (documented in the README).
    if (DeadPeerTest::publicApiOnly()) {
        QCOMPARE(accepted.count(), 1);
        return;
    }
    QCOMPARE(accepted.count(), 0);
    QCOMPARE(watch.lost.size(), losses);
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), reaped ? 0 : 1, 3000);
    // Resumed, the server takes the waiting connection.
    m_server->resumeAccepting();
    QTRY_COMPARE_WITH_TIMEOUT(accepted.count(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), reaped ? 1 : 2, 3000);
}

// pendingConnectionAvailable() once per client, as from a QTcpServer, also
// when a pending client dies and the others stay queued.
void tst_Server::eachClientAnnouncedOnce()
{
    QSignalSpy announced(m_server.get(), &QTcpServer::pendingConnectionAvailable);
    ServerWatch watch(m_server.get());
    KeepAliveSocket *unused = nullptr;
    QTcpSocket *first = connectClient(&unused, false);
    QVERIFY(first);
    QTcpSocket *doomed = connectClient(&unused, false);
    QVERIFY(doomed);
    QTcpSocket *third = connectClient(&unused, false);
    QVERIFY(third);
    QCOMPARE(announced.count(), 3);
    QVERIFY(QtKeepAliveTesting::resetConnection(doomed));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QTest::qWait(200);
    QCOMPARE(announced.count(), 3);
    KeepAliveSocket *taken = m_server->nextPendingConnection();
    QVERIFY(taken);
    QCOMPARE(taken->peerPort(), first->localPort());
    taken = m_server->nextPendingConnection();
    QVERIFY(taken);
    QCOMPARE(taken->peerPort(), third->localPort());
    QVERIFY(!m_server->hasPendingConnections());
    QCOMPARE(announced.count(), 3);
}

// A client whose bytes filled the application's read buffer, then fell
// silent: reaped with every byte it sent readable, and closed with a FIN
// (a close with unread data would reset it).
void tst_Server::idleReapReadsPastAFullBuffer()
{
    constexpr auto timeout = 1000ms;
    QVERIFY(m_server->setIdleTimeout(timeout));
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide, true, std::make_unique<KeepAliveSocket>());
    QVERIFY(client);
    auto *keepAliveClient = static_cast<KeepAliveSocket *>(client);
    serverSide->setReadBufferSize(1024);
    watch.follow(serverSide);
    qint64 availableAtLost = -1;
    connect(m_server.get(), &KeepAliveServer::clientLost, this,
            [&](KeepAliveSocket *lost) { availableAtLost = lost->bytesAvailable(); });
    QSignalSpy clientDead(keepAliveClient, &KeepAliveSocket::deadPeer);
    QSignalSpy clientClosed(client, &QAbstractSocket::disconnected);
    const QByteArray sent(64 * 1024, 's');
    client->write(sent);
    QVERIFY(client->waitForBytesWritten(5000));

    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QCOMPARE(watch.lost.front().reason, Loss::IdleTimeout);
    QCOMPARE(availableAtLost, qint64(sent.size()));
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 3000);
    QCOMPARE(watch.readAtDisconnected, sent);
    QTRY_COMPARE_WITH_TIMEOUT(clientClosed.count(), 1, 5000);
    QCOMPARE(clientDead.count(), 0); // an orderly close: no ConnectionReset
    QCOMPARE(serverSide->readBufferSize(), qint64(1024));
}

// Bytes the kernel receives while the application's read buffer is full
// (Qt emits no readyRead() then) are activity: the client is kept while it
// sends, and reaped once it stops, with everything readable.
void tst_Server::bytesBehindAFullBufferAreActivity()
{
    constexpr auto timeout = 1000ms;
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    if (!serverSide->connectionHealth().sinceLastDataReceived)
        QSKIP("the kernel does not say when it last received data: only readyRead() is activity");
    QVERIFY(m_server->setIdleTimeout(timeout));
    serverSide->setReadBufferSize(1024);
    watch.follow(serverSide);
    QByteArray sent(2048, 'f');
    client->write(sent);
    QTimer talk;
    connect(&talk, &QTimer::timeout, client, [&] {
        const QByteArray chunk(256, 't');
        sent += chunk;
        client->write(chunk);
    });
    talk.start(200);
    QTest::qWait(int(3 * timeout.count()));
    talk.stop();
    QVERIFY2(watch.lost.empty(), "a client sending behind a full read buffer was reaped");
    QCOMPARE(serverSide->bytesAvailable(), qint64(1024));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), int(2 * timeout.count()) + 1000);
    QCOMPARE(watch.lost.front().reason, Loss::IdleTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 3000);
    QCOMPARE(watch.readAtDisconnected.size(), sent.size());
    QCOMPARE(watch.readAtDisconnected, sent);
}

// A lost client still closing (our data cannot leave) counts against
// maxClients() until it disconnects.
void tst_Server::lostClientCountedUntilDisconnected()
{
    QVERIFY(m_server->setIdleTimeout(1000ms));
    QVERIFY(m_server->setMaxClients(1));
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    client->setReadBufferSize(1); // the client application stops reading
    serverSide->write(QByteArray(32 * 1024 * 1024, 'z'));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QCOMPARE(serverSide->state(), QAbstractSocket::ClosingState);
    QCOMPARE(m_server->clientCount(), 1);
    // Over the limit while it closes.
    QTcpSocket another;
    another.connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    QVERIFY(another.waitForConnected(5000));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(2), 3000);
    QCOMPARE(watch.lost.back().reason, Loss::RefusedOverLimit);
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 5000);
    QCOMPARE(m_server->clientCount(), 0);
}

void tst_Server::handlersDeleteDuringOneReaping_data()
{
    QTest::addColumn<bool>("deleteServer");
    QTest::newRow("delete the lost client and the next one") << false;
    QTest::newRow("delete the server") << true;
}

// Four idle clients due in one pass of the thread's reaping: clientLost()
// handlers delete what the pass has yet to reach (the next client, or the
// server itself). No client is touched after its deletion (ASan), each
// client still counted is reported once, and nothing is reported once the
// server is gone.
void tst_Server::handlersDeleteDuringOneReaping()
{
    QFETCH(bool, deleteServer);
    constexpr auto timeout = 1000ms;
    constexpr int Count = 4;
    QVERIFY(m_server->setIdleTimeout(timeout));
    std::vector<QPointer<KeepAliveSocket>> served;
    for (int i = 0; i < Count; ++i) {
        KeepAliveSocket *serverSide = nullptr;
        QVERIFY(connectClient(&serverSide));
        served.emplace_back(serverSide);
    }
    std::vector<QTcpSocket *> reported;
    connect(m_server.get(), &KeepAliveServer::clientLost, this,
            [&](QTcpSocket *client, Loss reason) {
                QCOMPARE(reason, Loss::IdleTimeout);
                reported.push_back(client);
                if (deleteServer) {
                    m_server.reset();
                    return;
                }
                delete client; // at once, inside the server's signal
                for (const QPointer<KeepAliveSocket> &next : served) {
                    if (next && next != client) {
                        delete next.data();
                        break;
                    }
                }
            });
    // The thread is busy past every client's deadline: the next pass finds all due.
    QTest::qWait(int(timeout.count()) / 2);
    QThread::msleep(timeout.count());
    QTRY_VERIFY_WITH_TIMEOUT(!reported.empty(), 5000);
    QTest::qWait(int(timeout.count()) * 2);
    if (deleteServer) {
        // The clients, taken but still the server's children, went with it.
        QCOMPARE(reported.size(), std::size_t(1));
        QVERIFY(!m_server);
        for (const QPointer<KeepAliveSocket> &client : served)
            QVERIFY(!client);
    } else {
        // Each handler deleted two: the lost one and the next.
        QCOMPARE(reported.size(), std::size_t(Count / 2));
        for (const QPointer<KeepAliveSocket> &client : served)
            QVERIFY(!client);
        QCOMPARE(m_server->clientCount(), 0);
    }
}

// A timeout set while a client has been idle counts from its last activity,
// also activity from before reaping was switched on.
void tst_Server::idleTimeoutCountsFromLastActivity()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    client->write("x");
    QTRY_COMPARE_WITH_TIMEOUT(serverSide->bytesAvailable(), qint64(1), 5000);
    QTest::qWait(1500);
    QVERIFY(watch.lost.empty());
    const qint64 setAt = watch.clock.elapsed();
    QVERIFY(m_server->setIdleTimeout(1000ms));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 3000);
    const qint64 after = watch.lost.front().at - setAt;
    qInfo("client idle for 1.5 s reaped %lld ms after a 1 s timeout was set", after);
    QVERIFY2(after <= 500, qPrintable(QString::number(after)));
    QCOMPARE(watch.lost.front().reason, Loss::IdleTimeout);
}

// A worker thread that finishes while its clients live: nothing of the
// server, the slow-reader guard or the heartbeat is left to the ended
// thread (LeakSanitizer in the asan leg), and deleting the client later
// from another thread warns about nothing.
void tst_Server::workerThreadEndsBeforeItsClients_data()
{
    QTest::addColumn<bool>("justWrote");
    QTest::newRow("idle client") << false;
    QTest::newRow("client written to just before") << true;
}

void tst_Server::workerThreadEndsBeforeItsClients()
{
    QFETCH(bool, justWrote);
    QVERIFY(m_server->setIdleTimeout(60s)); // a timer armed in the worker
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    QThread worker;
    worker.start();
    serverSide->setParent(nullptr);
    serverSide->moveToThread(&worker);
    QMetaObject::invokeMethod(
            serverSide,
            [serverSide, justWrote] {
                auto *heartbeat = new KeepAliveHeartbeat(serverSide);
                heartbeat->setInterval(60s);
                if (justWrote)
                    serverSide->write(QByteArray(64 * 1024, 'w'));
            },
            Qt::BlockingQueuedConnection);
    QTest::qWait(100); // the client joins the worker's care
    worker.quit();
    QVERIFY(worker.wait(5000));
    QCOMPARE(m_server->clientCount(), 1);

    WarningTrap trap;
    delete serverSide;
    QCOMPARE(m_server->clientCount(), 0);
    QVERIFY2(trap.warnings.isEmpty(), qPrintable(trap.warnings.join(u'\n')));
}

// The common pattern: the application aborts the client inside
// heartbeatTimeout(). The server still reports it, once, as HeartbeatTimeout,
// before the client's disconnected().
void tst_Server::abortInsideHeartbeatTimeoutReported()
{
    ServerWatch watch(m_server.get());
    KeepAliveSocket *serverSide = nullptr;
    QTcpSocket *client = connectClient(&serverSide);
    QVERIFY(client);
    watch.follow(serverSide);
    auto *heartbeat = new KeepAliveHeartbeat(serverSide);
    QVERIFY(heartbeat->setInterval(300ms));
    QVERIFY(heartbeat->setMaxMissed(1));
    QVERIFY(heartbeat->setJitter(0ms));
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, serverSide,
            [serverSide] { serverSide->abort(); });
    QTRY_VERIFY_WITH_TIMEOUT(watch.events.contains(QStringLiteral("disconnected")), 5000);
    QCOMPARE(watch.lost.size(), std::size_t(1));
    QCOMPARE(watch.lost.front().reason, Loss::HeartbeatTimeout);
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("clientLost"), QStringLiteral("deadPeer"),
                          QStringLiteral("errorOccurred"), QStringLiteral("disconnected")}));
    QCOMPARE(m_server->clientCount(), 0);
    QTest::qWait(300);
    QCOMPARE(watch.lost.size(), std::size_t(1));
}

// A subclass that creates its own sockets hands them to the server's care
// with addPendingClient(): counted, limited, reaped, reported.
void tst_Server::subclassHandsItsOwnSockets()
{
    OwnSocketServer server;
    QVERIFY(server.setKeepAliveOptions(shortOptions()));
    QVERIFY(server.setMaxClients(1));
    QVERIFY(server.setIdleTimeout(1000ms));
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    ServerWatch watch(&server);

    QTcpSocket first;
    first.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(first.waitForConnected(5000));
    QTRY_COMPARE_WITH_TIMEOUT(server.clientCount(), 1, 5000);
    KeepAliveSocket *taken = server.nextPendingConnection();
    QVERIFY(taken);
    QCOMPARE(taken->objectName(), QStringLiteral("own"));
    QCOMPARE(taken->keepAliveOptions(), shortOptions());

    QTcpSocket second;
    second.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(second.waitForConnected(5000));
    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(1), 5000);
    QCOMPARE(watch.lost.front().reason, Loss::RefusedOverLimit);
    QCOMPARE(server.handedOver, QList<bool>({true, false}));

    // Refused, changing nothing: no socket, a socket already in care.
    {
        WarningTrap trap;
        QVERIFY(!server.addPendingClient(nullptr));
        QVERIFY(!server.addPendingClient(taken));
        QCOMPARE(trap.warnings.size(), 2);
    }
    QCOMPARE(server.clientCount(), 1);
    QVERIFY(!server.hasPendingConnections());

    QTRY_COMPARE_WITH_TIMEOUT(watch.lost.size(), std::size_t(2), 3000);
    QCOMPARE(watch.lost.back().reason, Loss::IdleTimeout);
    QCOMPARE(watch.lost.back().client.data(), taken);
}

QTEST_MAIN(tst_Server)
#include "tst_server.moc"
