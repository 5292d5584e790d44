// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveSocket and threads. The slow-reader guard (see "Slow readers" in
// keepalivesocket.h) runs from timers that must follow the socket to the
// thread it is moved to, and die with it there:
//
// - a socket moved to a worker thread, before or after it connected, keeps a
//   live peer that stopped reading connected;
// - a server's socket, adopted in the accepting thread (the README's server
//   pattern), moved to a worker, served and deleted there, leaves nothing
//   registered in the accepting thread;
// - options re-applied every 100 ms during a stall do not keep the guard from
//   ever running.
//
// Every peer is a socket on 127.0.0.1 in the main (test) thread. A slow
// reader stops reading while its kernel keeps answering our window probes,
// then reads everything: it must receive all 8 MiB intact, and the socket
// must see no death. Qt must print no warning about a timer, notifier or
// child used from the wrong thread.
//
// Keepalive settings: idle 1 s, interval 1 s, 2 probes, automatic user
// timeout, so the detection bound (and the kernel's user timeout) is 3 s.

#include "../../shared/deadpeerwatch.h"

#include <KeepAliveSocket>

#include <QtCore/QElapsedTimer>
#include <QtCore/QMetaEnum>
#include <QtCore/QMetaObject>
#include <QtCore/QRegularExpression>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include <sys/socket.h>

#if defined(__SANITIZE_ADDRESS__)
#  define TST_THREADS_ASAN
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define TST_THREADS_ASAN
#  endif
#endif

#ifdef TST_THREADS_ASAN
// A timer left registered in the accepting thread for a socket deleted in
// the worker fires into freed memory inside Qt, which is not instrumented:
// with the freed bytes left as they were, the read goes unseen (observed).
// Overwriting freed memory makes Qt's dispatch of that timer fault at once,
// and ASan reports it with the stack (QTimerInfoList::activateTimers).
// ASAN_OPTIONS still overrides this.
extern "C" const char *__asan_default_options()
{
    return "max_free_fill_size=4096";
}
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

using Reason = KeepAliveSocket::DeadPeerReason;

using DeadPeerTest::boundMs;
using DeadPeerTest::shortOptions;

namespace {

// One probe more: an automatic user timeout of 4 s instead of 3 s.
KeepAliveOptions longerOptions()
{
    return KeepAliveOptions(shortOptions()).setProbeCount(3);
}

constexpr qsizetype payloadSize = 8 << 20;

// What every writer sends: a xorshift sequence, so that a lost, repeated or
// reordered chunk shows.
const QByteArray &payload()
{
    static const QByteArray bytes = [] {
        QByteArray data(payloadSize, Qt::Uninitialized);
        quint32 x = 0x9e3779b9u;
        for (char &byte : data) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            byte = char(x >> 24);
        }
        return data;
    }();
    return bytes;
}

// Empty if `received` is the payload (with `prefixOnly`, its beginning);
// otherwise how it differs.
QString payloadMismatch(const QByteArray &received, bool prefixOnly = false)
{
    const QByteArray &expected = payload();
    if (received.size() > expected.size() || (!prefixOnly && received.size() != expected.size()))
        return QStringLiteral("received %1 bytes, expected %2")
                .arg(received.size())
                .arg(expected.size());
    const char *differs =
            std::mismatch(received.constBegin(), received.constEnd(), expected.constBegin()).first;
    if (differs != received.constEnd())
        return QStringLiteral("received %1 bytes, the first wrong one at offset %2")
                .arg(received.size())
                .arg(differs - received.constBegin());
    return {};
}

// Our data is queued but nothing is in flight: only the peer's closed
// receive window holds it back.
bool stalledOnZeroWindow(const KeepAliveSocket &socket)
{
    const ConnectionHealth health = socket.connectionHealth();
    return health.unackedSegments.value_or(1) == 0 && health.notSentBytes.value_or(0) > 0;
}

template<typename Enum>
const char *keyOf(Enum value)
{
    return QMetaEnum::fromType<Enum>().valueToKey(int(value));
}

// Runs `function` in `context`'s thread and waits for it to return.
template<typename Function>
void runIn(QObject *context, Function function)
{
    if (context->thread() == QThread::currentThread())
        function();
    else
        QMetaObject::invokeMethod(context, std::move(function), Qt::BlockingQueuedConnection);
}

// A thread running its own event loop, with an object living there to run
// calls in it; quits and joins when destroyed.
class WorkerThread : public QThread
{
public:
    WorkerThread()
    {
        setObjectName(QStringLiteral("worker"));
        m_context.moveToThread(this);
        start();
    }
    ~WorkerThread() override
    {
        quit();
        if (!wait(QDeadlineTimer(10000)))
            qFatal("the worker thread did not finish within 10 s");
    }
    QObject *context() { return &m_context; }

private:
    QObject m_context;
};

// Owns a socket that may live in the worker and deletes it in its own
// thread, as an application must, also when a test returns early.
class SocketHolder
{
public:
    SocketHolder(WorkerThread &worker, KeepAliveSocket *socket) : m_worker(worker), m_socket(socket)
    {
    }
    ~SocketHolder()
    {
        KeepAliveSocket *socket = release();
        if (socket && socket->thread() == &m_worker)
            runIn(m_worker.context(), [socket] { delete socket; });
        else
            delete socket;
    }
    Q_DISABLE_COPY_MOVE(SocketHolder)

    KeepAliveSocket *get() const { return m_socket; }
    KeepAliveSocket *release() { return std::exchange(m_socket, nullptr); }

private:
    WorkerThread &m_worker;
    KeepAliveSocket *m_socket;
};

// What the application sees of the connection, written by handlers that run
// in the socket's thread; read it there (snapshot()) while the socket exists.
struct Record
{
    int deadPeers = 0;
    int errors = 0;
    int disconnects = 0;
    Reason reason = Reason::None;
    QString errorString;
    steady_clock::time_point endedAt{}; // deadPeer(), or else the first errorOccurred()
};

void watch(KeepAliveSocket *socket, Record *record)
{
    QObject::connect(socket, &KeepAliveSocket::deadPeer, socket, [socket, record](Reason reason) {
        ++record->deadPeers;
        record->reason = reason;
        record->errorString = socket->errorString();
        record->endedAt = steady_clock::now();
    });
    QObject::connect(socket, &QAbstractSocket::errorOccurred, socket, [socket, record] {
        if (record->errors++ == 0 && record->deadPeers == 0) {
            record->errorString = socket->errorString();
            record->endedAt = steady_clock::now();
        }
    });
    QObject::connect(socket, &QAbstractSocket::disconnected, socket,
                     [record] { ++record->disconnects; });
}

// The socket as seen from its own thread.
struct Snapshot
{
    QAbstractSocket::SocketState state = QAbstractSocket::UnconnectedState;
    bool stalled = false;
    qint64 bytesToWrite = -1;
    Record record;
};

Snapshot snapshot(KeepAliveSocket *socket, const Record &record)
{
    Snapshot now;
    runIn(socket, [&] {
        now.state = socket->state();
        now.stalled = stalledOnZeroWindow(*socket);
        now.bytesToWrite = socket->bytesToWrite();
        now.record = record;
    });
    return now;
}

bool isConnected(const Snapshot &now)
{
    return now.state == QAbstractSocket::ConnectedState && now.record.deadPeers == 0
            && now.record.errors == 0 && now.record.disconnects == 0;
}

QString describe(const Snapshot &now, steady_clock::time_point since)
{
    QString text = QStringLiteral("%1, %2 deadPeer(), %3 errorOccurred(), %4 disconnected()")
                           .arg(QLatin1String(keyOf(now.state)))
                           .arg(now.record.deadPeers)
                           .arg(now.record.errors)
                           .arg(now.record.disconnects);
    if (now.record.deadPeers || now.record.errors)
        text += QStringLiteral(" — %1 (\"%2\") %3 ms after the stall was seen")
                        .arg(QLatin1String(keyOf(now.record.reason)), now.record.errorString)
                        .arg(duration_cast<milliseconds>(now.record.endedAt - since).count());
    return text;
}

// Holds a reader's pause for `ms` while this thread's event loop runs: every
// 100 ms the socket, looked at from its own thread, must be connected with no
// death seen, and (with `requireStall`) still stalled on the closed window.
// Returns what went wrong, or an empty string.
QString holdPause(KeepAliveSocket *socket, const Record &record, const QTcpSocket *peer, qint64 ms,
                  bool requireStall, steady_clock::time_point stallSeenAt)
{
    QElapsedTimer hold;
    hold.start();
    const int maxChecks = int(ms / 100) + 2; // QTest::qWait(100) takes at least 100 ms
    for (int check = 0; check < maxChecks && hold.elapsed() < ms; ++check) {
        QTest::qWait(100);
        const Snapshot now = snapshot(socket, record);
        if (!isConnected(now))
            return QStringLiteral("%1 ms into the %2 ms pause the live reader was cut off: %3")
                    .arg(hold.elapsed())
                    .arg(ms)
                    .arg(describe(now, stallSeenAt));
        if (requireStall && !now.stalled)
            return QStringLiteral("%1 ms into the pause the send side is no longer stalled")
                    .arg(hold.elapsed());
        if (peer->state() != QAbstractSocket::ConnectedState)
            return QStringLiteral("%1 ms into the pause the reader's side is %2")
                    .arg(hold.elapsed())
                    .arg(QLatin1String(keyOf(peer->state())));
    }
    if (hold.elapsed() < ms)
        return QStringLiteral("the pause ended after %1 ms").arg(hold.elapsed());
    return {};
}

// Listens on 127.0.0.1 for a slow reader: a small receive buffer, set on the
// listening socket so that the window scale offered in the handshake matches.
bool listenForSlowReader(QTcpServer &server)
{
    if (!server.listen(QHostAddress::LocalHost, 0)) {
        qWarning() << "listen failed:" << server.errorString();
        return false;
    }
    const int size = 16 * 1024;
    if (::setsockopt(int(server.socketDescriptor()), SOL_SOCKET, SO_RCVBUF, &size, sizeof size)
        != 0) {
        qWarning() << "SO_RCVBUF refused";
        return false;
    }
    return true;
}

// The accepted peer as a slow reader: Qt reads at most 1 KiB for it and
// leaves the rest in its kernel, which keeps answering window probes.
QTcpSocket *acceptSlowReader(QTcpServer &server)
{
    if (!QTest::qWaitFor([&] { return server.hasPendingConnections(); }, 5000)) {
        qWarning() << "no connection accepted";
        return nullptr;
    }
    QTcpSocket *peer = server.nextPendingConnection();
    peer->setReadBufferSize(1024);
    return peer;
}

// The reader reads again, until the whole payload is in (at most 10 s).
QByteArray readEverything(QTcpSocket *peer, qint64 *tookMs)
{
    QElapsedTimer clock;
    clock.start();
    peer->setReadBufferSize(0);
    // A normal receive buffer again: through the 16 KiB one, 8 MiB trickle
    // in over about 5 s (measured), through 1 MiB in about 0.2 s.
    const int size = 1 << 20;
    if (::setsockopt(int(peer->socketDescriptor()), SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
        qWarning() << "SO_RCVBUF refused";
    QByteArray received;
    received.reserve(payloadSize);
    const bool complete = QTest::qWaitFor(
            [&] {
                received += peer->readAll();
                return received.size() >= payloadSize;
            },
            10000);
    if (!complete)
        qWarning() << "after 10 s the reader has" << received.size() << "bytes";
    *tookMs = clock.elapsed();
    return received;
}

// The README's server pattern: incomingConnection() creates the socket in the
// accepting thread, gives it its options and adopts the descriptor.
class AdoptingServer : public QTcpServer
{
public:
    bool optionsAccepted = false;
    bool adopted = false;

protected:
    void incomingConnection(qintptr descriptor) override
    {
        // No parent: it is handed to another thread.
        auto *socket = new KeepAliveSocket;
        optionsAccepted = socket->setKeepAliveOptions(shortOptions());
        adopted = socket->setSocketDescriptor(descriptor);
        addPendingConnection(socket);
    }
};

} // namespace

class tst_Threads : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void slowReaderAfterMoveToThread_data();
    void slowReaderAfterMoveToThread();
    void adoptMoveDelete_data();
    void adoptMoveDelete();
    void optionsReappliedEvery100msDuringStall();
};

void tst_Threads::initTestCase()
{
    QCOMPARE(boundMs(), qint64(3000));
    QCOMPARE(shortOptions().userTimeout(), 3000ms);
    QCOMPARE(longerOptions().userTimeout(), 4000ms);
    QCOMPARE(payload().size(), payloadSize);
}

void tst_Threads::init()
{
    // "QObject::startTimer: Timers cannot be started from another thread",
    // "QObject::~QObject: Timers cannot be stopped from another thread",
    // "QSocketNotifier: ... from another thread", "QObject: Cannot create
    // children for a parent that is in a different thread" and the like.
    QTest::failOnWarning(
            QRegularExpression(QStringLiteral("(from|in) (another|a different) thread")));
}

void tst_Threads::slowReaderAfterMoveToThread_data()
{
    QTest::addColumn<bool>("connectFirst");
    QTest::newRow("moved before connecting") << false;
    // Connected in the main thread and idle there for longer than a guard
    // tick, then handed to the worker: whatever the guard does during the
    // stall has to happen in the worker.
    QTest::newRow("moved after connecting") << true;
}

void tst_Threads::slowReaderAfterMoveToThread()
{
    QFETCH(bool, connectFirst);
    QTcpServer server;
    QVERIFY(listenForSlowReader(server));
    WorkerThread worker;
    Record record;
    SocketHolder holder(worker, new KeepAliveSocket);
    KeepAliveSocket *const socket = holder.get();
    watch(socket, &record);
    QVERIFY(socket->setKeepAliveOptions(shortOptions()));

    QTcpSocket *peer = nullptr;
    if (connectFirst) {
        socket->connectToHost(QHostAddress::LocalHost, server.serverPort());
        peer = acceptSlowReader(server);
        QVERIFY(peer);
        QTRY_COMPARE_WITH_TIMEOUT(socket->state(), QAbstractSocket::ConnectedState, 5000);
        QTest::qWait(1000);
        socket->moveToThread(&worker);
    } else {
        socket->moveToThread(&worker);
        runIn(worker.context(),
              [&] { socket->connectToHost(QHostAddress::LocalHost, server.serverPort()); });
        peer = acceptSlowReader(server);
        QVERIFY(peer);
    }
    QVERIFY(QTest::qWaitFor(
            [&] { return snapshot(socket, record).state == QAbstractSocket::ConnectedState; },
            5000));

    // One write of 8 MiB in the worker, far more than the reader's buffers
    // take; then nothing but the worker's event loop.
    QElapsedTimer clock;
    clock.start();
    qint64 written = -1;
    QThread *writtenIn = nullptr;
    runIn(worker.context(), [&] {
        written = socket->write(payload());
        writtenIn = socket->thread();
    });
    QCOMPARE(written, qint64(payloadSize));
    QCOMPARE(writtenIn, &worker);
    QVERIFY(QTest::qWaitFor([&] { return snapshot(socket, record).stalled; }, 5000));
    const qint64 stalledAfter = clock.elapsed();
    const steady_clock::time_point stallSeenAt = steady_clock::now();

    // The reader pauses for three times the bound, alive: its kernel keeps
    // answering, as the main thread's event loop runs.
    const qint64 pauseMs = 3 * boundMs();
    const QString cutOff = holdPause(socket, record, peer, pauseMs, true, stallSeenAt);
    QVERIFY2(cutOff.isEmpty(), qPrintable(cutOff));

    qint64 readMs = 0;
    const QByteArray received = readEverything(peer, &readMs);
    const QString mismatch = payloadMismatch(received);
    QVERIFY2(mismatch.isEmpty(), qPrintable(mismatch));
    QVERIFY(QTest::qWaitFor([&] { return snapshot(socket, record).bytesToWrite == 0; }, 5000));
    const Snapshot end = snapshot(socket, record);
    QVERIFY2(isConnected(end), qPrintable(describe(end, stallSeenAt)));
    qInfo("%s: stalled %lld ms after the write, held %lld ms connected (bound %lld ms), "
          "then the reader read 8 MiB intact in %lld ms",
          QTest::currentDataTag(), stalledAfter, pauseMs, boundMs(), readMs);
}

void tst_Threads::adoptMoveDelete_data()
{
    QTest::addColumn<bool>("stall");
    QTest::addColumn<bool>("useDeleteLater");
    // Nothing written: the socket dies in the worker right after the move.
    QTest::newRow("adopt, move, delete") << false << false;
    QTest::newRow("adopt, move, deleteLater") << false << true;
    // The worker writes 8 MiB to a client that does not read for twice the
    // bound, then drops it mid-stall.
    QTest::newRow("stalled client, delete") << true << false;
    QTest::newRow("stalled client, deleteLater") << true << true;
}

void tst_Threads::adoptMoveDelete()
{
    QFETCH(bool, stall);
    QFETCH(bool, useDeleteLater);
    AdoptingServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    WorkerThread worker;
    Record record;
    std::atomic<QThread *> deletedIn{nullptr};

    // The client does not read: Qt takes 1 KiB for it, its kernel the rest it
    // has room for.
    QTcpSocket client;
    client.setReadBufferSize(1024);
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(QTest::qWaitFor([&] { return server.hasPendingConnections(); }, 5000));
    auto *adopted = qobject_cast<KeepAliveSocket *>(server.nextPendingConnection());
    SocketHolder holder(worker, adopted);
    QVERIFY(adopted);
    QVERIFY(server.optionsAccepted);
    QVERIFY(server.adopted);
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::ConnectedState, 5000);

    KeepAliveSocket *const socket = holder.get();
    watch(socket, &record);
    // Not the socket as the context: ~KeepAliveSocket() disconnects its own.
    QObject::connect(
            socket, &QObject::destroyed, worker.context(),
            [&deletedIn] { deletedIn = QThread::currentThread(); }, Qt::DirectConnection);
    socket->moveToThread(&worker);
    const Snapshot moved = snapshot(socket, record);
    QCOMPARE(moved.state, QAbstractSocket::ConnectedState);
    QCOMPARE(moved.record.deadPeers, 0);

    qint64 stalledAfter = -1;
    if (stall) {
        QElapsedTimer clock;
        clock.start();
        qint64 written = -1;
        runIn(worker.context(), [&] { written = socket->write(payload()); });
        QCOMPARE(written, qint64(payloadSize));
        QVERIFY(QTest::qWaitFor([&] { return snapshot(socket, record).stalled; }, 5000));
        stalledAfter = clock.elapsed();
        const QString cutOff =
                holdPause(socket, record, &client, 2 * boundMs(), true, steady_clock::now());
        QVERIFY2(cutOff.isEmpty(), qPrintable(cutOff));
    }

    // Deleted in the worker, the thread it lives in.
    KeepAliveSocket *const dropped = holder.release();
    if (useDeleteLater)
        runIn(worker.context(), [dropped] { dropped->deleteLater(); });
    else
        runIn(worker.context(), [dropped] { delete dropped; });
    QVERIFY(QTest::qWaitFor([&] { return deletedIn.load() != nullptr; }, 5000));
    QCOMPARE(deletedIn.load(), &worker);

    // The accepting thread runs on for a while: nothing of the socket may be
    // left in it. The client reads again and sees the connection end, after
    // what the kernel still held for it.
    client.setReadBufferSize(0);
    QByteArray received;
    qint64 closedAfter = -1;
    QElapsedTimer after;
    after.start();
    for (int round = 0; round < 3000 / 50 + 1 && after.elapsed() < 3000; ++round) {
        QTest::qWait(50);
        if (client.isOpen())
            received += client.readAll();
        if (closedAfter < 0 && client.state() == QAbstractSocket::UnconnectedState)
            closedAfter = after.elapsed();
    }
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    const QString mismatch = payloadMismatch(received, true);
    QVERIFY2(mismatch.isEmpty(), qPrintable(mismatch));
    if (!stall)
        QCOMPARE(received.size(), 0);
    QCOMPARE(record.deadPeers, 0);
    QCOMPARE(record.errors, 0);
    if (stall)
        qInfo("%s: stalled %lld ms after the write, held %lld ms connected in the worker, deleted "
              "there; the client then read %lld bytes intact and saw the close after %lld ms",
              QTest::currentDataTag(), stalledAfter, 2 * boundMs(), qint64(received.size()),
              closedAfter);
    else
        qInfo("%s: the client saw the close %lld ms after the deletion; the main thread ran on "
              "for %lld ms",
              QTest::currentDataTag(), closedAfter, after.elapsed());
}

// The application re-applies its options every 100 ms, from before the
// stall until the reader reads again, alternating between a 3 s and a 4 s
// user timeout. The guard's tick must come all the same.
void tst_Threads::optionsReappliedEvery100msDuringStall()
{
    QTcpServer server;
    QVERIFY(listenForSlowReader(server));
    Record record;
    KeepAliveSocket client;
    watch(&client, &record);
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QTcpSocket *peer = acceptSlowReader(server);
    QVERIFY(peer);
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::ConnectedState, 5000);

    int calls = 0;
    int refused = 0;
    QTimer reapply;
    reapply.setInterval(100);
    connect(&reapply, &QTimer::timeout, &client, [&] {
        ++calls;
        if (!client.setKeepAliveOptions(calls % 2 ? longerOptions() : shortOptions()))
            ++refused;
    });
    reapply.start();

    QElapsedTimer clock;
    clock.start();
    QCOMPARE(client.write(payload()), qint64(payloadSize));
    QTRY_VERIFY_WITH_TIMEOUT(stalledOnZeroWindow(client), 5000);
    const qint64 stalledAfter = clock.elapsed();

    const qint64 pauseMs = 3 * boundMs();
    const QString cutOff = holdPause(&client, record, peer, pauseMs, true, steady_clock::now());
    reapply.stop();
    QVERIFY2(cutOff.isEmpty(), qPrintable(cutOff));
    QCOMPARE(refused, 0);
    // The event loop ran throughout: most of the 100 ms ticks came.
    QVERIFY2(calls >= int(pauseMs / 100) / 2, qPrintable(QString::number(calls)));

    qint64 readMs = 0;
    const QByteArray received = readEverything(peer, &readMs);
    const QString mismatch = payloadMismatch(received);
    QVERIFY2(mismatch.isEmpty(), qPrintable(mismatch));
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesToWrite(), qint64(0), 5000);
    const Snapshot end = snapshot(&client, record);
    QVERIFY2(isConnected(end), qPrintable(describe(end, steady_clock::now())));
    qInfo("stalled %lld ms after the write, held %lld ms connected (bound %lld ms) through %d "
          "setKeepAliveOptions() calls, then the reader read 8 MiB intact in %lld ms",
          stalledAfter, pauseMs, boundMs(), calls, readMs);
}

QTEST_GUILESS_MAIN(tst_Threads)

#include "tst_threads.moc"
