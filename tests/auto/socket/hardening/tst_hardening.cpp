// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// What applications do around a dying connection. Each test names the
// promise it holds the library to: exactly one deadPeer() per connection,
// nothing received is lost, and no descriptor but this connection's own is
// ever touched. Peers are sockets accepted on 127.0.0.1; a silent peer is
// made with QtKeepAliveTesting::silence(), a crashed one with
// resetConnection(). Keepalive: idle 1 s, interval 1 s, 2 probes (bound 3 s).

#include "../../shared/deadpeerwatch.h"

#include <KeepAliveSocket>
#include <keepalivetesting.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QProcess>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <chrono>
#include <memory>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace DeadPeerTest;

namespace {

constexpr int BoundMs = 3000;
// Bound plus scheduling slack on a busy machine (sanitizers included).
constexpr int DeathTimeoutMs = BoundMs + 7000;

// Lets the kernel deliver what a peer in this process did, without running
// the event loop (so the client's notifiers have not seen it yet).
void letKernelDeliver()
{
    QThread::msleep(100);
}

} // namespace

class tst_Hardening : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    // Never touch what is not ours.
    void childNotifiersAreNotInspected();
    void nothingTouchedInsideDeadPeer();
    // Exactly once.
    void exactlyOnceWhateverTheHandlerDoes();
    void reasonResetByTheNextConnection();
    void deleteLaterInsideDeadPeer();
    // Nothing lost.
    void writePathAfterResetKeepsBytes_data();
    void writePathAfterResetKeepsBytes();
    void handlerRepliesWithFlush_data();
    void handlerRepliesWithFlush();
    void ownCloseDeliversToPausingReader();
    // Deaths reported.
    void unbufferedDeath_data();
    void unbufferedDeath();
    void fullReadBufferIdleApplication_data();
    void fullReadBufferIdleApplication();
    void resetDuringBlockingWait();
    // Not a death.
    void finThenResetIsOrderlyClose();

private:
    // A connected client and the peer the server accepted for it.
    QTcpSocket *connectPair(KeepAliveSocket &client,
                            QIODevice::OpenMode mode = QIODevice::ReadWrite);
    void deliverPayload(QTcpSocket *peer, KeepAliveSocket &client);

    std::unique_ptr<QTcpServer> m_server;
};

void tst_Hardening::init()
{
    m_server = std::make_unique<QTcpServer>();
    QVERIFY(m_server->listen(QHostAddress::LocalHost, 0));
}

void tst_Hardening::cleanup()
{
    m_server.reset();
}

QTcpSocket *tst_Hardening::connectPair(KeepAliveSocket &client, QIODevice::OpenMode mode)
{
    if (!client.setKeepAliveOptions(shortOptions()))
        return nullptr;
    client.connectToHost(QHostAddress::LocalHost, m_server->serverPort(), mode);
    if (!client.waitForConnected(5000) || !m_server->waitForNewConnection(5000))
        return nullptr;
    QTcpSocket *peer = m_server->nextPendingConnection();
    peer->setParent(m_server.get());
    return peer;
}

// The peer's last words, delivered to the client's kernel (and maybe Qt).
void tst_Hardening::deliverPayload(QTcpSocket *peer, KeepAliveSocket &client)
{
    const QByteArray payload = peerPayload();
    peer->write(payload);
    QVERIFY(peer->waitForBytesWritten(5000));
    QTRY_VERIFY_WITH_TIMEOUT(client.connectionHealth().sinceLastDataReceived.value_or(1h) < 1s
                                     || client.bytesAvailable() == payload.size(),
                             5000);
}

// A QProcess parented to the socket owns notifiers of its own (its pipes).
// They are not the connection's: its write error must reach the QProcess,
// and its pipe's POLLERR is no evidence that the peer died.
void tst_Hardening::childNotifiersAreNotInspected()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    Watch watch(&client);

    auto *process = new QProcess(&client);
    QSignalSpy processErrors(process, &QProcess::errorOccurred);
    // The child closes its stdin at once and lingers: our write meets EPIPE.
    process->start(QStringLiteral("/bin/sh"),
                   {QStringLiteral("-c"), QStringLiteral("exec 0<&-; sleep 10")});
    QVERIFY(process->waitForStarted(5000));
    QTest::qWait(300);
    process->write(QByteArray(4096, 'p'));
    QTRY_COMPARE_WITH_TIMEOUT(processErrors.count(), 1, 5000);
    QCOMPARE(processErrors.at(0).at(0).value<QProcess::ProcessError>(), QProcess::WriteError);

    // A later orderly close by the peer is what it is.
    peer->disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(client.deadPeerReason(), Reason::None);
    process->kill();
    process->waitForFinished(5000);
}

// Inside deadPeer() Qt has closed the descriptor while state() still says
// Connected: its number may already belong to a socket opened in the
// handler. Options are stored, nothing is applied or read from that number.
void tst_Hardening::nothingTouchedInsideDeadPeer()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    const int descriptor = int(client.socketDescriptor());
    Watch watch(&client);
    deliverPayload(peer, client);

    int other = -1;
    bool applied = false;
    KeepAliveSocket::KeepAliveError error = KeepAliveSocket::KeepAliveError::InvalidOptions;
    EffectiveKeepAliveOptions effective;
    ConnectionHealth health;
    const KeepAliveOptions next = shortOptions().setIdle(7s);
    connect(&client, &KeepAliveSocket::deadPeer, this, [&] {
        other = ::socket(AF_INET, SOCK_STREAM, 0); // the lowest free number: the one Qt closed
        applied = client.setKeepAliveOptions(next);
        error = client.keepAliveError();
        effective = client.effectiveKeepAliveOptions();
        health = client.connectionHealth();
    });
    QVERIFY(QtKeepAliveTesting::resetConnection(peer));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QVERIFY(other >= 0);
    const auto closeOther = qScopeGuard([other] { ::close(other); });
    QCOMPARE(other, descriptor);

    QVERIFY(applied);
    QCOMPARE(error, KeepAliveSocket::KeepAliveError::NoError);
    QCOMPARE(client.keepAliveOptions(), next);
    QVERIFY(effective.isEmpty());
    // The snapshot taken at the death, not the other socket's.
    QVERIFY(health.isValid());
    QCOMPARE(health.state, ConnectionHealth::TcpState::Closed);
    QCOMPARE(client.connectionHealth().state, ConnectionHealth::TcpState::Closed);
    // The other socket keeps its defaults.
    QCOMPARE(intOption(other, SOL_SOCKET, SO_KEEPALIVE), 0);
    QCOMPARE(intOption(other, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);
    QVERIFY(intOption(other, IPPROTO_TCP, TCP_KEEPIDLE) != 7);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                QStringLiteral("connection reset by peer (RST received)"));
}

// A handler that writes and waits on the dead connection gets no second,
// nested deadPeer(), and the reason stays the one reported.
void tst_Hardening::exactlyOnceWhateverTheHandlerDoes()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    Watch watch(&client);
    deliverPayload(peer, client);

    QList<bool> results;
    connect(&client, &KeepAliveSocket::deadPeer, this, [&] {
        client.write("still there?");
        results << client.waitForBytesWritten(1000) << client.waitForReadyRead(1000)
                << client.flush() << client.setKeepAliveOptions(shortOptions().setProbeCount(3));
    });
    QVERIFY(QtKeepAliveTesting::silence(peer));
    watch.clock.restart();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, DeathTimeoutMs);
    QCOMPARE(results, QList<bool>({false, false, false, true}));
    verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                QStringLiteral("peer did not answer 2 keepalive probes (idle 1 s, interval 1 s)"));
}

// deadPeerReason() describes the current connection: None again once the
// next one starts (here from the disconnected() handler), which then ends
// in an orderly way and keeps None.
void tst_Hardening::reasonResetByTheNextConnection()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QSignalSpy reasons(&client, &KeepAliveSocket::deadPeerReasonChanged);
    QSignalSpy deaths(&client, &KeepAliveSocket::deadPeer);
    QSignalSpy connects(&client, &QAbstractSocket::connected);
    int disconnects = 0;
    connect(&client, &QAbstractSocket::disconnected, this, [&] {
        if (++disconnects == 1)
            client.connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    });
    QVERIFY(QtKeepAliveTesting::resetConnection(peer));
    QTRY_COMPARE_WITH_TIMEOUT(connects.count(), 1, 5000);
    QCOMPARE(deaths.count(), 1);
    QCOMPARE(client.deadPeerReason(), Reason::None);
    QCOMPARE(reasons.count(), 2);
    QCOMPARE(reasons.at(0).at(0).value<Reason>(), Reason::ConnectionReset);
    QCOMPARE(reasons.at(1).at(0).value<Reason>(), Reason::None);
    // The new connection carries the options again.
    QCOMPARE(intOption(int(client.socketDescriptor()), IPPROTO_TCP, TCP_USER_TIMEOUT), 3000);

    QTRY_VERIFY_WITH_TIMEOUT(m_server->hasPendingConnections(), 5000);
    QTcpSocket *second = m_server->nextPendingConnection();
    second->setParent(m_server.get());
    second->disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(disconnects, 2, 5000);
    QCOMPARE(deaths.count(), 1);
    QCOMPARE(client.deadPeerReason(), Reason::None);
}

// deleteLater() is the way to dispose of a socket from its deadPeer() handler.
void tst_Hardening::deleteLaterInsideDeadPeer()
{
    auto *client = new KeepAliveSocket;
    QTcpSocket *peer = connectPair(*client);
    QVERIFY(peer);
    QSignalSpy destroyed(client, &QObject::destroyed);
    QSignalSpy deaths(client, &KeepAliveSocket::deadPeer);
    connect(client, &KeepAliveSocket::deadPeer, client, &QObject::deleteLater);
    QVERIFY(QtKeepAliveTesting::silence(peer));
    QTRY_COMPARE_WITH_TIMEOUT(destroyed.count(), 1, DeathTimeoutMs);
    QCOMPARE(deaths.count(), 1);
}

void tst_Hardening::writePathAfterResetKeepsBytes_data()
{
    QTest::addColumn<QString>("call");
    QTest::addColumn<qint64>("readBufferSize");
    QTest::newRow("write + flush()") << QStringLiteral("flush") << qint64(0);
    QTest::newRow("write + waitForBytesWritten()")
            << QStringLiteral("waitForBytesWritten") << qint64(0);
    QTest::newRow("write + waitForReadyRead()") << QStringLiteral("waitForReadyRead") << qint64(0);
    QTest::newRow("write + flush(), read buffer full") << QStringLiteral("flush") << qint64(500);
    QTest::newRow("write + waitForBytesWritten(), read buffer full")
            << QStringLiteral("waitForBytesWritten") << qint64(500);
}

// The peer sent its last bytes and reset before the application's next
// write, and the event loop has not run since. Qt's write path would meet
// the error, abort() and drop those bytes; they must stay readable and the
// death be reported with its reason.
void tst_Hardening::writePathAfterResetKeepsBytes()
{
    QFETCH(QString, call);
    QFETCH(qint64, readBufferSize);
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    client.setReadBufferSize(readBufferSize);
    Watch watch(&client);
    const QByteArray payload = peerPayload();
    peer->write(payload);
    QVERIFY(peer->waitForBytesWritten(5000));
    QVERIFY(QtKeepAliveTesting::resetConnection(peer));
    letKernelDeliver();

    client.write("reply");
    bool result = true;
    if (call == QLatin1String("flush"))
        result = client.flush();
    else if (call == QLatin1String("waitForBytesWritten"))
        result = client.waitForBytesWritten(2000);
    else
        result = client.waitForReadyRead(2000);
    if (call != QLatin1String("waitForReadyRead"))
        QVERIFY(!result);
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                QStringLiteral("connection reset by peer (RST received)"));
}

void tst_Hardening::handlerRepliesWithFlush_data()
{
    QTest::addColumn<bool>("readByQt");
    QTest::newRow("bytes read by Qt") << true;
    QTest::newRow("bytes still in the kernel") << false;
}

// The application answers a death with a last message and flush(); what the
// peer sent before stays readable.
void tst_Hardening::handlerRepliesWithFlush()
{
    QFETCH(bool, readByQt);
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    Watch watch(&client);
    if (readByQt) {
        deliverPayload(peer, client);
    } else {
        peer->write(peerPayload());
        QVERIFY(peer->waitForBytesWritten(5000));
    }
    bool flushed = true;
    qint64 written = 0;
    connect(&client, &KeepAliveSocket::deadPeer, this, [&] {
        written = client.write("goodbye");
        flushed = client.flush() || client.waitForBytesWritten(500);
    });
    QVERIFY(QtKeepAliveTesting::resetConnection(peer));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QVERIFY(!flushed);
    QCOMPARE(written, qint64(-1)); // nothing can be sent any more
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                QStringLiteral("connection reset by peer (RST received)"));
}

// The application's own disconnectFromHost() with 1 MiB queued, to a live
// peer that pauses reading for 8 s (longer than the 3 s user timeout): the
// peer receives all of it, as from a QTcpSocket.
void tst_Hardening::ownCloseDeliversToPausingReader()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    peer->setReadBufferSize(1);
    QSignalSpy deaths(&client, &KeepAliveSocket::deadPeer);
    QSignalSpy disconnects(&client, &QAbstractSocket::disconnected);
    QByteArray data(1 << 20, Qt::Uninitialized);
    for (int i = 0; i < data.size(); ++i)
        data[i] = char((i * 13 + 5) & 0xff);
    client.write(data);
    client.disconnectFromHost();
    QTest::qWait(8000);

    const QByteArray received = readUntilPeerClosed(peer, 15000);
    QCOMPARE(received.size(), data.size());
    QVERIFY(received == data);
    QCOMPARE(peer->error(), QAbstractSocket::RemoteHostClosedError); // our FIN, no RST
    QCOMPARE(disconnects.count(), 1);
    QCOMPARE(deaths.count(), 0);
}

void tst_Hardening::unbufferedDeath_data()
{
    QTest::addColumn<bool>("silent");
    QTest::addColumn<bool>("readsInReadyRead");
    QTest::newRow("reset, application reads") << false << true;
    QTest::newRow("reset, application idle") << false << false;
    QTest::newRow("silent, application reads") << true << true;
    QTest::newRow("silent, application idle") << true << false;
}

// Unbuffered, Qt 6.4 reads only when the application does and ends a failed
// read silently. The death is still reported within the bound, with the
// signals of buffered mode, and the bytes sent before it are all delivered.
void tst_Hardening::unbufferedDeath()
{
    QFETCH(bool, silent);
    QFETCH(bool, readsInReadyRead);
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client, QIODevice::ReadWrite | QIODevice::Unbuffered);
    QVERIFY(peer);
    QSignalSpy deaths(&client, &KeepAliveSocket::deadPeer);
    QSignalSpy errors(&client, &QAbstractSocket::errorOccurred);
    QSignalSpy disconnects(&client, &QAbstractSocket::disconnected);
    QStringList events;
    connect(&client, &KeepAliveSocket::deadPeer, this,
            [&] { events << QStringLiteral("deadPeer"); });
    connect(&client, &QAbstractSocket::errorOccurred, this,
            [&] { events << QStringLiteral("errorOccurred"); });
    connect(&client, &QAbstractSocket::disconnected, this,
            [&] { events << QStringLiteral("disconnected"); });
    QByteArray received;
    if (readsInReadyRead)
        connect(&client, &QIODevice::readyRead, this, [&] { received += client.readAll(); });

    const QByteArray payload = peerPayload();
    peer->write(payload);
    QVERIFY(peer->waitForBytesWritten(5000));
    if (readsInReadyRead)
        QTRY_COMPARE_WITH_TIMEOUT(received.size(), payload.size(), 5000);
    QElapsedTimer clock;
    clock.start();
    QVERIFY(silent ? QtKeepAliveTesting::silence(peer) : QtKeepAliveTesting::resetConnection(peer));

    QTRY_COMPARE_WITH_TIMEOUT(deaths.count(), 1, DeathTimeoutMs);
    qInfo() << "Unbuffered death reported after" << clock.elapsed() << "ms";
    const Reason reason = silent ? Reason::KeepAliveTimeout : Reason::ConnectionReset;
    QCOMPARE(deaths.at(0).at(0).value<Reason>(), reason);
    if (!readsInReadyRead) {
        // The application reads at last: everything is there, then the end.
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        received = client.readAll();
    }
    QTRY_COMPARE_WITH_TIMEOUT(disconnects.count(), 1, 5000);
    QCOMPARE(received, payload);
    QCOMPARE(errors.count(), 1);
    QCOMPARE(client.error(),
             silent ? QAbstractSocket::SocketTimeoutError : QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    QTest::qWait(300);
    QCOMPARE(deaths.count(), 1);
    QCOMPARE(disconnects.count(), 1);
}

void tst_Hardening::fullReadBufferIdleApplication_data()
{
    QTest::addColumn<bool>("silent");
    QTest::newRow("reset") << false;
    QTest::newRow("silent") << true;
}

// The read buffer is full and the application does not read: Qt has stopped
// reading, so no notification would ever show the death. It is reported
// within the bound anyway, and nothing the peer sent is lost.
void tst_Hardening::fullReadBufferIdleApplication()
{
    QFETCH(bool, silent);
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    client.setReadBufferSize(1000);
    Watch watch(&client);
    // peerPayload() is 1500 bytes: Qt takes 1000 and stops reading.
    peer->write(peerPayload());
    QVERIFY(peer->waitForBytesWritten(5000));
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(1000), 5000);
    QTest::qWait(200);
    watch.clock.restart();
    QVERIFY(silent ? QtKeepAliveTesting::silence(peer) : QtKeepAliveTesting::resetConnection(peer));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, DeathTimeoutMs);
    qInfo() << "full read buffer: deadPeer after" << watch.deadPeerAt << "ms";
    QVERIFY(watch.deadPeerAt <= BoundMs + 2000);
    if (silent)
        verifyDeath(
                watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                QStringLiteral("peer did not answer 2 keepalive probes (idle 1 s, interval 1 s)"));
    else
        verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                    QStringLiteral("connection reset by peer (RST received)"));
    QCOMPARE(client.readBufferSize(), qint64(1000));
}

// The application blocks in waitForReadyRead() (no event loop, no
// notifiers) while the peer, served from another thread, resets: the reset is
// told from an orderly close, and the bytes before it stay readable.
void tst_Hardening::resetDuringBlockingWait()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    Watch watch(&client);
    deliverPayload(peer, client);
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(peerPayload().size()), 5000);
    QThread peerThread;
    peerThread.start();
    const auto stop = qScopeGuard([&] {
        peerThread.quit();
        peerThread.wait();
    });
    peer->setParent(nullptr);
    peer->moveToThread(&peerThread);
    QMetaObject::invokeMethod(peer, [peer] {
        QTimer::singleShot(300, peer, [peer] {
            QtKeepAliveTesting::resetConnection(peer);
            peer->deleteLater();
        });
    });
    QVERIFY(!client.waitForReadyRead(5000));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                QStringLiteral("connection reset by peer (RST received)"));
}

// The peer closed (FIN) and then answered our next data with a RST before
// the application read the FIN: the peer closed, it did not die.
void tst_Hardening::finThenResetIsOrderlyClose()
{
    KeepAliveSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    Watch watch(&client);
    peer->close(); // nothing unread: a FIN
    letKernelDeliver();
    client.write("late");
    QVERIFY(client.flush()); // the kernel takes it; the peer answers with a RST
    letKernelDeliver();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QTest::qWait(300);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(client.deadPeerReason(), Reason::None);
    QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
}

QTEST_MAIN(tst_Hardening)
#include "tst_hardening.moc"
