// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveSocket used the blocking way: waitFor...() in a thread whose event
// loop never runs, in the two forms applications use:
//
// - a std::thread: Qt has no event dispatcher there, so it creates no socket
//   notifiers and refuses timers ("QObject::startTimer: Timers can only be
//   used with threads started with QThread");
// - a QThread whose run() never calls exec() (Qt's blocking fortune client):
//   notifiers and timers exist, but nothing ever dispatches them, nor queued
//   calls.
//
// In both, the socket must behave as a QTcpSocket in the same thread and lose
// nothing: the waits deliver every byte the peer sent before dying; the death
// is reported once, deadPeer() before errorOccurred() before disconnected(),
// within the keepalive bound, with its precise reason and the kernel's view
// at the death (connectionHealth(): the reason comes from that evidence, not
// from a guess); and Qt prints no warning. The faults: a silent idle peer
// (also after our request was acknowledged), a silent peer with our data in
// flight, a reset after the peer's last bytes, and an orderly close (no
// death). Where a plain QTcpSocket must agree, it runs the same script in
// the same kind of thread.
//
// Peers are sockets accepted on 127.0.43.1 in the main thread, which keeps
// serving them (QTRY_*) while the client blocks in its own thread. Keepalive
// settings: idle 1 s, interval 1 s, 2 probes, automatic user timeout (3 s).

#include "../../shared/deadpeerwatch.h"

#include <KeepAliveSocket>
#include <keepalivetesting.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QMutex>
#include <QtCore/QStringList>
#include <QtCore/QThread>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include <poll.h>

using namespace std::chrono_literals;

using DeadPeerTest::boundMs;
using DeadPeerTest::keepAliveTimeoutMessage;
using DeadPeerTest::resetMessage;
using DeadPeerTest::retransmissionTimeoutMessage;
using DeadPeerTest::shortOptions;
using DeadPeerTest::unacknowledgedBytes;
using Reason = KeepAliveSocket::DeadPeerReason;

enum class ThreadKind { StdThread, QThreadWithoutExec };
Q_DECLARE_METATYPE(ThreadKind)

// How the client meets the peer's fault.
enum class Call {
    ReadyRead,             //!< waitForReadyRead()
    WriteThenReadyRead,    //!< write(), then waitForReadyRead() (which sends what was written)
    WriteThenBytesWritten, //!< write(), then waitForBytesWritten()
    WriteThenFlush,        //!< write(), then flush()
};
Q_DECLARE_METATYPE(Call)

namespace {

// The kernel caches RTT per destination (tcp_metrics); this suite's own
// loopback address keeps its retransmission timing its own.
const QHostAddress TestAddress(QStringLiteral("127.0.43.1"));

// A wait the peer answers at once, or that a fault ends.
constexpr int WaitMs = 5000;

// What the peer sends before its fault (5,000 bytes, binary: a lost,
// truncated or repeated byte shows).
const QByteArray &payload()
{
    static const QByteArray bytes = [] {
        QByteArray data(5000, Qt::Uninitialized);
        for (int i = 0; i < data.size(); ++i)
            data[i] = char((i * 7 + 3) & 0xff);
        return data;
    }();
    return bytes;
}

const QByteArray Request("request");

// Every message Qt prints, from any thread, that is a warning or worse or
// names timers or socket notifiers ("Timers can only be used with threads
// started with QThread", "QSocketNotifier: ..."). Passed on to QtTest's own
// handler, one message at a time.
class MessageLog
{
public:
    static void install()
    {
        const QMutexLocker lock(&s_mutex);
        s_previous = qInstallMessageHandler(&MessageLog::handle);
    }
    static void uninstall()
    {
        const QMutexLocker lock(&s_mutex);
        qInstallMessageHandler(s_previous);
    }
    static void clear()
    {
        const QMutexLocker lock(&s_mutex);
        s_problems.clear();
    }
    static QStringList problems()
    {
        const QMutexLocker lock(&s_mutex);
        return s_problems;
    }

private:
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
    {
        const QMutexLocker lock(&s_mutex);
        const bool serious = type == QtWarningMsg || type == QtCriticalMsg || type == QtFatalMsg;
        if (serious || message.contains(QLatin1String("Timers"))
            || message.contains(QLatin1String("QSocketNotifier")))
            s_problems << message;
        if (s_previous)
            s_previous(type, context, message);
    }

    static QMutex s_mutex;
    static QStringList s_problems;
    static QtMessageHandler s_previous;
};

QMutex MessageLog::s_mutex;
QStringList MessageLog::s_problems;
QtMessageHandler MessageLog::s_previous = nullptr;

// Runs a function in a new thread of the given kind, which never runs an
// event loop; joins it when destroyed (every wait of the client is bounded).
class ClientThread
{
public:
    ClientThread(ThreadKind kind, std::function<void()> body) : m_body(std::move(body))
    {
        if (kind == ThreadKind::StdThread) {
            m_std = std::thread([this] { run(); });
        } else {
            m_qthread = std::make_unique<NoExecThread>(this);
            m_qthread->start();
        }
    }
    ~ClientThread()
    {
        if (m_std.joinable())
            m_std.join();
        if (m_qthread)
            m_qthread->wait();
    }
    Q_DISABLE_COPY_MOVE(ClientThread)

    bool isFinished() const { return m_finished.load(); }

private:
    // Qt's blocking fortune client: everything happens in run(), no exec().
    class NoExecThread : public QThread
    {
    public:
        explicit NoExecThread(ClientThread *owner) : m_owner(owner) { }

    protected:
        void run() override { m_owner->run(); }

    private:
        ClientThread *const m_owner;
    };

    void run()
    {
        m_body();
        m_finished.store(true);
    }

    std::function<void()> m_body;
    std::atomic<bool> m_finished{false};
    std::thread m_std;
    std::unique_ptr<NoExecThread> m_qthread;
};

// Everything the client application saw, recorded in its own thread.
struct Outcome
{
    QString failure;    //!< a step of the client's script that did not happen
    QStringList calls;  //!< "waitForReadyRead() true", in order
    QStringList events; //!< deadPeer, errorOccurred, disconnected, in order
    QList<Reason> deadPeers;
    Reason reasonAtDeadPeer = Reason::None; //!< deadPeerReason() in the deadPeer() handler
    QString errorStringAtDeadPeer;
    ConnectionHealth healthAtDeadPeer;
    qint64 deadPeerAt = -1; //!< on the exchange's clock
    QAbstractSocket::SocketError error = QAbstractSocket::UnknownSocketError;
    QString errorString;
    QByteArray received; //!< read by the application, in order
    QAbstractSocket::SocketState finalState = QAbstractSocket::ConnectedState;
    Reason finalReason = Reason::None;
};

// The client's thread and the main thread (the peer) take turns through this.
struct Exchange
{
    explicit Exchange(quint16 port) : port(port) { clock.start(); }

    const quint16 port;
    QElapsedTimer clock; //!< started before the client's thread; both threads read it
    std::atomic<bool> connected{false};   //!< client: waitForConnected() returned true
    std::atomic<bool> payloadRead{false}; //!< client: it holds the peer's bytes
    std::atomic<bool> peerDone{false};    //!< peer: its part (the fault included) is done
    std::atomic<qint64> faultAt{-1};      //!< peer: when the fault happened
    std::atomic<qint64> requestAt{-1};    //!< client: when its request was written
    Outcome outcome;                      //!< written by the client before it finishes
};

// In the client's thread: waits for the peer's turn, bounded.
bool await(const std::atomic<bool> &flag)
{
    const QDeadlineTimer deadline(10000);
    while (!flag.load()) {
        if (deadline.hasExpired())
            return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

// The client application, in its own thread: a KeepAliveSocket or a plain
// QTcpSocket, used only through blocking calls.
class Client
{
public:
    Client(bool keepAlive, Exchange &exchange)
        : m_exchange(exchange),
          m_outcome(exchange.outcome),
          m_keepAlive(keepAlive ? new KeepAliveSocket : nullptr),
          m_socket(keepAlive ? m_keepAlive : new QTcpSocket)
    {
        if (m_keepAlive) {
            if (!m_keepAlive->setKeepAliveOptions(shortOptions()))
                m_outcome.failure = m_keepAlive->keepAliveErrorString();
            QObject::connect(m_keepAlive, &KeepAliveSocket::deadPeer, m_keepAlive,
                             [this](Reason reason) {
                                 m_outcome.events << QStringLiteral("deadPeer");
                                 m_outcome.deadPeers << reason;
                                 m_outcome.deadPeerAt = m_exchange.clock.elapsed();
                                 m_outcome.reasonAtDeadPeer = m_keepAlive->deadPeerReason();
                                 m_outcome.errorStringAtDeadPeer = m_keepAlive->errorString();
                                 m_outcome.healthAtDeadPeer = m_keepAlive->connectionHealth();
                             });
        }
        QObject::connect(m_socket, &QAbstractSocket::errorOccurred, m_socket,
                         [this](QAbstractSocket::SocketError error) {
                             m_outcome.events << QStringLiteral("errorOccurred");
                             m_outcome.error = error;
                             m_outcome.errorString = m_socket->errorString();
                         });
        QObject::connect(m_socket, &QAbstractSocket::disconnected, m_socket,
                         [this] { m_outcome.events << QStringLiteral("disconnected"); });
    }
    ~Client()
    {
        m_outcome.finalState = m_socket->state();
        if (m_keepAlive)
            m_outcome.finalReason = m_keepAlive->deadPeerReason();
        delete m_socket;
    }
    Q_DISABLE_COPY_MOVE(Client)

    bool connectToPeer()
    {
        m_socket->connectToHost(TestAddress, m_exchange.port);
        if (m_socket->waitForConnected(WaitMs)) {
            m_exchange.connected.store(true);
            return true;
        }
        return fail(QStringLiteral("not connected: ") + m_socket->errorString());
    }

    // Reads until it holds the peer's bytes, then tells the peer.
    bool readPayload()
    {
        for (int round = 0; round < 100 && m_outcome.received.size() < payload().size(); ++round) {
            if (!waitForReadyRead(WaitMs))
                return fail(QStringLiteral("the payload did not arrive: ")
                            + m_socket->errorString());
            m_outcome.received += m_socket->readAll();
        }
        m_exchange.payloadRead.store(true);
        return true;
    }

    bool awaitPeer()
    {
        return await(m_exchange.peerDone) || fail(QStringLiteral("the peer never did its part"));
    }

    // Until the client's kernel holds the peer's FIN or RST (the test's own
    // poll(), which consumes nothing).
    bool awaitPeerEnd()
    {
        pollfd entry{int(m_socket->socketDescriptor()), POLLRDHUP, 0};
        if (::poll(&entry, 1, WaitMs) == 1 && (entry.revents & (POLLRDHUP | POLLERR | POLLHUP)))
            return true;
        return fail(QStringLiteral("the peer's FIN or RST did not arrive"));
    }

    // A blocking client's read loop: until a wait fails.
    void readToEnd(int msecs = WaitMs)
    {
        for (int round = 0; round < 100 && waitForReadyRead(msecs); ++round)
            m_outcome.received += m_socket->readAll();
    }

    void write(const QByteArray &data)
    {
        m_exchange.requestAt.store(m_exchange.clock.elapsed());
        if (m_socket->write(data) != data.size())
            fail(QStringLiteral("write refused: ") + m_socket->errorString());
    }

    bool waitForReadyRead(int msecs)
    {
        return record(QStringLiteral("waitForReadyRead()"), m_socket->waitForReadyRead(msecs));
    }
    bool waitForBytesWritten(int msecs)
    {
        return record(QStringLiteral("waitForBytesWritten()"), m_socket->waitForBytesWritten(msecs));
    }
    bool flush()
    {
        // KeepAliveSocket::flush() hides QAbstractSocket::flush().
        return record(QStringLiteral("flush()"),
                      m_keepAlive ? m_keepAlive->flush() : m_socket->flush());
    }
    qint64 bytesToWrite() const { return m_socket->bytesToWrite(); }
    void readAll()
    {
        // A plain QTcpSocket whose write path failed has closed the device.
        if (m_socket->isOpen())
            m_outcome.received += m_socket->readAll();
    }

    // Runs `call` after the peer's last bytes, then reads until a wait fails.
    void run(Call call)
    {
        switch (call) {
        case Call::ReadyRead:
            break;
        case Call::WriteThenReadyRead:
            write(Request);
            break;
        case Call::WriteThenBytesWritten:
            write(Request);
            waitForBytesWritten(WaitMs);
            readAll();
            break;
        case Call::WriteThenFlush:
            write(Request);
            flush();
            readAll();
            break;
        }
        readToEnd();
    }

private:
    bool record(const QString &call, bool result)
    {
        m_outcome.calls << call + (result ? QStringLiteral(" true") : QStringLiteral(" false"));
        return result;
    }
    bool fail(const QString &why)
    {
        if (m_outcome.failure.isEmpty())
            m_outcome.failure = why;
        return false;
    }

    Exchange &m_exchange;
    Outcome &m_outcome;
    KeepAliveSocket *const m_keepAlive;
    QTcpSocket *const m_socket;
};

QString describe(const Outcome &outcome)
{
    QString text;
    QDebug(&text).nospace() << "calls " << outcome.calls << ", events " << outcome.events
                            << ", error " << outcome.error << " \"" << outcome.errorString
                            << "\", received " << outcome.received.size() << " bytes";
    return text;
}

} // namespace

class tst_Blocking : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void init();

    void silentIdlePeer_data();
    void silentIdlePeer();
    void silentBusyPeer_data();
    void silentBusyPeer();
    void peerReset_data();
    void peerReset();
    void peerOrderlyClose_data();
    void peerOrderlyClose();

private:
    void listen(QTcpServer &server);
    QTcpSocket *acceptPeer(QTcpServer &server, const Exchange &exchange);
    void deliver(QTcpSocket *peer);
    void verifyDeath(const Outcome &outcome, Reason reason, QAbstractSocket::SocketError error,
                     const QString &message);
    void verifyNoWarnings();
    enum class PeerEnd { Reset, OrderlyClose };
    void runPeerEnd(ThreadKind kind, bool keepAlive, Call call, PeerEnd end, Outcome &outcome);
};

void tst_Blocking::initTestCase()
{
    QCOMPARE(boundMs(), qint64(3000));
    QCOMPARE(shortOptions().userTimeout(), 3000ms);
    MessageLog::install();
}

void tst_Blocking::cleanupTestCase()
{
    MessageLog::uninstall();
}

void tst_Blocking::init()
{
    MessageLog::clear();
}

void tst_Blocking::listen(QTcpServer &server)
{
    QVERIFY2(server.listen(TestAddress, 0), qPrintable(server.errorString()));
}

// The peer of the client that connects from its own thread, once the client
// knows it is connected: a peer that acted earlier could reset the connection
// while the client's waitForConnected() still checks it, and Qt would then
// connect again, to a connection nobody accepts.
QTcpSocket *tst_Blocking::acceptPeer(QTcpServer &server, const Exchange &exchange)
{
    if (!server.waitForNewConnection(WaitMs))
        return nullptr;
    QTcpSocket *peer = server.nextPendingConnection();
    peer->setParent(&server);
    if (!QTest::qWaitFor([&] { return exchange.connected.load(); }, WaitMs))
        return nullptr;
    return peer;
}

// The peer's bytes, sent and acknowledged by the client's kernel: nothing
// the peer sends is in flight when its fault comes.
void tst_Blocking::deliver(QTcpSocket *peer)
{
    QCOMPARE(peer->write(payload()), qint64(payload().size()));
    QVERIFY(peer->waitForBytesWritten(WaitMs));
    QTRY_COMPARE_WITH_TIMEOUT(unacknowledgedBytes(peer->socketDescriptor()), 0, WaitMs);
}

void tst_Blocking::verifyNoWarnings()
{
    const QStringList problems = MessageLog::problems();
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
}

// One deadPeer(reason) before errorOccurred(error) before disconnected(),
// the message, the kernel's view at the death, every byte read.
void tst_Blocking::verifyDeath(const Outcome &outcome, Reason reason,
                               QAbstractSocket::SocketError error, const QString &message)
{
    QVERIFY2(outcome.failure.isEmpty(), qPrintable(outcome.failure));
    QCOMPARE(outcome.deadPeers, QList<Reason>{reason});
    QCOMPARE(outcome.events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(outcome.reasonAtDeadPeer, reason);
    QCOMPARE(outcome.finalReason, reason);
    QCOMPARE(outcome.error, error);
    QCOMPARE(outcome.errorStringAtDeadPeer, message);
    QCOMPARE(outcome.errorString, message);
    QCOMPARE(outcome.received.size(), payload().size());
    QVERIFY(outcome.received == payload());
    QCOMPARE(outcome.finalState, QAbstractSocket::UnconnectedState);
    // Taken before Qt's read closed the descriptor: the whole TCP_INFO, not
    // only the state a death met without a look leaves.
    QCOMPARE(outcome.healthAtDeadPeer.state, ConnectionHealth::TcpState::Closed);
    QVERIFY2(outcome.healthAtDeadPeer.rtt.has_value(),
             qPrintable(DeadPeerTest::describe(outcome.healthAtDeadPeer)));
}

void tst_Blocking::silentIdlePeer_data()
{
    QTest::addColumn<ThreadKind>("thread");
    QTest::addColumn<Call>("call");
    const auto both = {ThreadKind::StdThread, ThreadKind::QThreadWithoutExec};
    for (ThreadKind kind : both) {
        const char *name = kind == ThreadKind::StdThread ? "std::thread" : "QThread without exec()";
        QTest::addRow("%s, waitForReadyRead()", name) << kind << Call::ReadyRead;
        // The peer acknowledged (and read) the request before it fell silent:
        // keepalive finds it dead, no retransmission.
        QTest::addRow("%s, write + waitForReadyRead(), request acknowledged", name)
                << kind << Call::WriteThenReadyRead;
    }
}

// A peer that falls silent while the client waits for its next bytes: a
// keepalive death, told by the keepalive probes the kernel counted.
void tst_Blocking::silentIdlePeer()
{
    QFETCH(ThreadKind, thread);
    QFETCH(Call, call);
    QTcpServer server;
    listen(server);
    if (QTest::currentTestFailed())
        return;
    Exchange exchange(server.serverPort());
    ClientThread client(thread, [&exchange, call] {
        Client app(true, exchange);
        if (!app.connectToPeer() || !app.readPayload())
            return;
        if (call == Call::WriteThenReadyRead)
            app.write(Request);
        app.waitForReadyRead(int(boundMs()) + 5000);
    });
    QTcpSocket *peer = acceptPeer(server, exchange);
    QVERIFY(peer);
    deliver(peer);
    QTRY_VERIFY_WITH_TIMEOUT(exchange.payloadRead.load(), WaitMs);
    if (call == Call::WriteThenReadyRead) {
        QTRY_COMPARE_WITH_TIMEOUT(peer->bytesAvailable(), qint64(Request.size()), WaitMs);
        QCOMPARE(peer->readAll(), Request);
        // The peer's (maybe delayed) acknowledgement leaves; its kernel would
        // still send it after the silence, whose filter drops only what comes in.
        QTest::qWait(300);
    }
    exchange.faultAt.store(exchange.clock.elapsed());
    QVERIFY(QtKeepAliveTesting::silence(peer));

    QTRY_VERIFY_WITH_TIMEOUT(client.isFinished(), int(boundMs()) + 10000);
    const Outcome &outcome = exchange.outcome;
    const qint64 after = outcome.deadPeerAt - exchange.faultAt.load();
    qInfo("silent idle peer: deadPeer %lld ms after the silence (bound %lld ms); %s", after,
          boundMs(), qPrintable(describe(outcome)));
    verifyDeath(outcome, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                keepAliveTimeoutMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(outcome.healthAtDeadPeer.probes.value_or(0) > 0,
             qPrintable(DeadPeerTest::describe(outcome.healthAtDeadPeer)));
    QCOMPARE(outcome.calls.last(), QStringLiteral("waitForReadyRead() false"));
    QVERIFY2(after >= boundMs() / 2 && after <= boundMs() + 2000,
             qPrintable(QString::number(after)));
    verifyNoWarnings();
}

void tst_Blocking::silentBusyPeer_data()
{
    QTest::addColumn<ThreadKind>("thread");
    QTest::addColumn<Call>("call");
    const auto both = {ThreadKind::StdThread, ThreadKind::QThreadWithoutExec};
    for (ThreadKind kind : both) {
        const char *name = kind == ThreadKind::StdThread ? "std::thread" : "QThread without exec()";
        QTest::addRow("%s, write + waitForReadyRead()", name) << kind << Call::WriteThenReadyRead;
        // More than the kernel takes without acknowledgements: the waits block
        // on a full send buffer.
        QTest::addRow("%s, write + waitForBytesWritten()", name)
                << kind << Call::WriteThenBytesWritten;
    }
}

// A peer that falls silent before the client's next data: the kernel sends no
// keepalive probes while data is unacknowledged; the user timeout ends it.
void tst_Blocking::silentBusyPeer()
{
    QFETCH(ThreadKind, thread);
    QFETCH(Call, call);
    QTcpServer server;
    listen(server);
    if (QTest::currentTestFailed())
        return;
    Exchange exchange(server.serverPort());
    ClientThread client(thread, [&exchange, call] {
        Client app(true, exchange);
        if (!app.connectToPeer() || !app.readPayload() || !app.awaitPeer())
            return;
        if (call == Call::WriteThenReadyRead) {
            app.write(Request);
            app.waitForReadyRead(int(boundMs()) + 5000);
            return;
        }
        app.write(QByteArray(4 << 20, 'x'));
        for (int round = 0; round < 1000 && app.bytesToWrite() > 0; ++round) {
            if (!app.waitForBytesWritten(int(boundMs()) + 5000))
                break;
        }
    });
    QTcpSocket *peer = acceptPeer(server, exchange);
    QVERIFY(peer);
    deliver(peer);
    QTRY_VERIFY_WITH_TIMEOUT(exchange.payloadRead.load(), WaitMs);
    exchange.faultAt.store(exchange.clock.elapsed());
    QVERIFY(QtKeepAliveTesting::silence(peer));
    exchange.peerDone.store(true);

    QTRY_VERIFY_WITH_TIMEOUT(client.isFinished(), int(boundMs()) + 10000);
    const Outcome &outcome = exchange.outcome;
    // The kernel counts the user timeout from the first unacknowledged send.
    const qint64 after = outcome.deadPeerAt - exchange.requestAt.load();
    qInfo("silent busy peer: deadPeer %lld ms after the request (bound %lld ms); %s", after,
          boundMs(), qPrintable(describe(outcome)));
    verifyDeath(outcome, Reason::RetransmissionTimeout, QAbstractSocket::SocketTimeoutError,
                retransmissionTimeoutMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(outcome.healthAtDeadPeer.retransmits.value_or(0) > 0
                     || outcome.healthAtDeadPeer.backoff.value_or(0) > 0,
             qPrintable(DeadPeerTest::describe(outcome.healthAtDeadPeer)));
    QVERIFY(outcome.calls.last().endsWith(QLatin1String(" false")));
    QVERIFY2(after >= boundMs() * 9 / 10 && after <= boundMs() + 2000,
             qPrintable(QString::number(after)));
    verifyNoWarnings();
}

// Connects a client of the given kind in a thread of the given kind; the
// peer sends the payload, which the client's kernel acknowledges, then resets
// or closes; then the client runs `call`.
void tst_Blocking::runPeerEnd(ThreadKind kind, bool keepAlive, Call call, PeerEnd end,
                              Outcome &outcome)
{
    QTcpServer server;
    listen(server);
    if (QTest::currentTestFailed())
        return;
    Exchange exchange(server.serverPort());
    {
        ClientThread client(kind, [&exchange, keepAlive, call] {
            Client app(keepAlive, exchange);
            if (app.connectToPeer() && app.awaitPeer() && app.awaitPeerEnd())
                app.run(call);
        });
        QTcpSocket *peer = acceptPeer(server, exchange);
        QVERIFY(peer);
        deliver(peer);
        exchange.faultAt.store(exchange.clock.elapsed());
        if (end == PeerEnd::Reset) {
            QVERIFY(QtKeepAliveTesting::resetConnection(peer));
        } else {
            peer->disconnectFromHost();
            QCOMPARE(peer->state(), QAbstractSocket::UnconnectedState);
        }
        exchange.peerDone.store(true);
        QTRY_VERIFY_WITH_TIMEOUT(client.isFinished(), 3 * WaitMs);
    }
    outcome = exchange.outcome;
    QVERIFY2(outcome.failure.isEmpty(), qPrintable(outcome.failure));
    if (outcome.deadPeerAt >= 0) {
        const qint64 after = outcome.deadPeerAt - exchange.faultAt.load();
        QVERIFY2(after <= 2000, qPrintable(QString::number(after)));
    }
}

void tst_Blocking::peerReset_data()
{
    QTest::addColumn<ThreadKind>("thread");
    QTest::addColumn<Call>("call");
    const auto both = {ThreadKind::StdThread, ThreadKind::QThreadWithoutExec};
    for (ThreadKind kind : both) {
        const char *name = kind == ThreadKind::StdThread ? "std::thread" : "QThread without exec()";
        QTest::addRow("%s, waitForReadyRead()", name) << kind << Call::ReadyRead;
        // Qt's write path would meet the reset first and abort(), dropping
        // what the peer sent before it; a plain QTcpSocket loses those bytes.
        QTest::addRow("%s, write + waitForBytesWritten()", name)
                << kind << Call::WriteThenBytesWritten;
        QTest::addRow("%s, write + flush()", name) << kind << Call::WriteThenFlush;
    }
}

// The peer sends its last bytes and resets before the client looks: the
// client reads every byte, then learns of the reset as ConnectionReset.
void tst_Blocking::peerReset()
{
    QFETCH(ThreadKind, thread);
    QFETCH(Call, call);
    Outcome outcome;
    runPeerEnd(thread, true, call, PeerEnd::Reset, outcome);
    if (QTest::currentTestFailed())
        return;
    Outcome plain;
    runPeerEnd(thread, false, call, PeerEnd::Reset, plain);
    if (QTest::currentTestFailed())
        return;
    qInfo().noquote() << "KeepAliveSocket:" << describe(outcome);
    qInfo().noquote() << "QTcpSocket:     " << describe(plain);
    verifyDeath(outcome, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
    if (QTest::currentTestFailed())
        return;
    // Qt's own error code, as a plain QTcpSocket's.
    QCOMPARE(plain.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(plain.events,
             QStringList({QStringLiteral("errorOccurred"), QStringLiteral("disconnected")}));
    if (call == Call::ReadyRead) {
        // The same waits with the same results: the bytes, then the end.
        QCOMPARE(plain.received, payload());
        QCOMPARE(outcome.calls, plain.calls);
        QCOMPARE(outcome.calls,
                 QStringList({QStringLiteral("waitForReadyRead() true"),
                              QStringLiteral("waitForReadyRead() false")}));
    } else {
        // The write fails without reaching Qt's write path; the bytes stay.
        QCOMPARE(outcome.calls.first(),
                 call == Call::WriteThenFlush ? QStringLiteral("flush() false")
                                              : QStringLiteral("waitForBytesWritten() false"));
    }
    verifyNoWarnings();
}

void tst_Blocking::peerOrderlyClose_data()
{
    QTest::addColumn<ThreadKind>("thread");
    QTest::addColumn<Call>("call");
    const auto both = {ThreadKind::StdThread, ThreadKind::QThreadWithoutExec};
    for (ThreadKind kind : both) {
        const char *name = kind == ThreadKind::StdThread ? "std::thread" : "QThread without exec()";
        QTest::addRow("%s, waitForReadyRead()", name) << kind << Call::ReadyRead;
        // The closed peer answers the request with a RST: still no death.
        QTest::addRow("%s, write + waitForBytesWritten()", name)
                << kind << Call::WriteThenBytesWritten;
    }
}

// An orderly close is no death: the bytes, then RemoteHostClosedError and
// disconnected(), exactly as a plain QTcpSocket in the same thread sees it.
void tst_Blocking::peerOrderlyClose()
{
    QFETCH(ThreadKind, thread);
    QFETCH(Call, call);
    Outcome outcome;
    runPeerEnd(thread, true, call, PeerEnd::OrderlyClose, outcome);
    if (QTest::currentTestFailed())
        return;
    Outcome plain;
    runPeerEnd(thread, false, call, PeerEnd::OrderlyClose, plain);
    if (QTest::currentTestFailed())
        return;
    qInfo().noquote() << "KeepAliveSocket:" << describe(outcome);
    qInfo().noquote() << "QTcpSocket:     " << describe(plain);
    QVERIFY(outcome.deadPeers.isEmpty());
    QCOMPARE(outcome.finalReason, Reason::None);
    QCOMPARE(outcome.received.size(), payload().size());
    QVERIFY(outcome.received == payload());
    QCOMPARE(outcome.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(outcome.events,
             QStringList({QStringLiteral("errorOccurred"), QStringLiteral("disconnected")}));
    QCOMPARE(outcome.finalState, QAbstractSocket::UnconnectedState);
    QCOMPARE(outcome.calls, plain.calls);
    QCOMPARE(outcome.events, plain.events);
    QCOMPARE(outcome.error, plain.error);
    QCOMPARE(outcome.errorString, plain.errorString);
    QVERIFY(outcome.received == plain.received);
    verifyNoWarnings();
}

QTEST_GUILESS_MAIN(tst_Blocking)
#include "tst_blocking.moc"
