// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveEngine serving a composed socket: a KeepAliveSslSocket, whose TCP
// connection belongs to the inner QTcpSocket its QSslSocket creates as a
// child. Used unencrypted here (no certificates needed): the connection, its
// descriptor and its notifiers still sit one level deeper than a QTcpSocket's.
// Also: which connections the shared notification hook serves.

#include "keepaliveengine_p.h"
#include "qtinternals_p.h"

#include "../../shared/deadpeerwatch.h"

#include <KeepAliveServer>
#include <KeepAliveSocket>
#include <KeepAliveSslSocket>
#include <keepalivetesting.h>

#include <QtNetwork/QSslSocket>
#include <QtNetwork/QTcpServer>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

using namespace std::chrono_literals;
using DeadPeerTest::intOption;
using DeadPeerTest::shortOptions;
using QtKeepAlive::DeadPeerReason;

namespace {

// The inner socket that holds the TCP connection, found the way a test may:
// a QTcpSocket child of the QSslSocket.
QTcpSocket *innerSocket(QSslSocket &socket)
{
    return socket.findChild<QTcpSocket *>(QString(), Qt::FindDirectChildrenOnly);
}

} // namespace

class tst_Engine : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void optionsOnTheInnerConnection();
    void deadPeerOfTheInnerConnection_data();
    void deadPeerOfTheInnerConnection();
    void sharedHookOnlyForOwnConnections();

private:
    KeepAliveSslSocket *connectComposed(QTcpServer &server, KeepAliveEngine *&engine,
                                        QTcpSocket *&peer);
};

void tst_Engine::initTestCase()
{
    if (!QSslSocket::supportsSsl() && qEnvironmentVariableIsSet("CI"))
        QFAIL("Qt's TLS support (QSslSocket) is missing");
    if (!QSslSocket::supportsSsl())
        QSKIP("Qt's TLS support (QSslSocket) is missing");
}

KeepAliveSslSocket *tst_Engine::connectComposed(QTcpServer &server, KeepAliveEngine *&engine,
                                                QTcpSocket *&peer)
{
    if (!server.listen(QHostAddress::LocalHost, 0))
        return nullptr;
    auto *socket = new KeepAliveSslSocket(&server);
    engine = KeepAliveEngine::of(socket);
    if (!engine->setOptions(shortOptions()))
        return nullptr;
    socket->connectToHost(QHostAddress(QHostAddress::LocalHost).toString(), server.serverPort());
    if (!socket->waitForConnected(5000) || !server.waitForNewConnection(5000))
        return nullptr;
    peer = server.nextPendingConnection();
    return socket;
}

void tst_Engine::optionsOnTheInnerConnection()
{
    QTcpServer server;
    KeepAliveEngine *engine = nullptr;
    QTcpSocket *peer = nullptr;
    KeepAliveSslSocket *socket = connectComposed(server, engine, peer);
    QVERIFY(socket);
    QTcpSocket *inner = innerSocket(*socket);
    QVERIFY(inner);
    const qintptr descriptor = inner->socketDescriptor();
    QVERIFY(descriptor != -1);
    QCOMPARE(engine->error(), QtKeepAlive::KeepAliveError::NoError);
    QCOMPARE(intOption(descriptor, SOL_SOCKET, SO_KEEPALIVE), 1);
    QCOMPARE(intOption(descriptor, IPPROTO_TCP, TCP_KEEPIDLE), 1);
    QCOMPARE(intOption(descriptor, IPPROTO_TCP, TCP_KEEPCNT), 2);
    QCOMPARE(intOption(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT), 3000);
    QCOMPARE(engine->effectiveOptions().probeCount, 2);
    QCOMPARE(engine->health().state, ConnectionHealth::TcpState::Established);

    // Changed while connected: on the same inner connection.
    QVERIFY(engine->setOptions(shortOptions().setProbeCount(5)));
    QCOMPARE(intOption(descriptor, IPPROTO_TCP, TCP_KEEPCNT), 5);
}

void tst_Engine::deadPeerOfTheInnerConnection_data()
{
    QTest::addColumn<bool>("silent");
    QTest::newRow("silent peer") << true;
    QTest::newRow("reset") << false;
}

// The death happens on the inner connection; the engine's inspection of the
// inner notifiers classifies it and reports it once, before the outer
// socket's disconnected(), with the bytes the peer sent before still there.
void tst_Engine::deadPeerOfTheInnerConnection()
{
    QFETCH(bool, silent);
    QTcpServer server;
    KeepAliveEngine *engine = nullptr;
    QTcpSocket *peer = nullptr;
    KeepAliveSslSocket *socket = connectComposed(server, engine, peer);
    QVERIFY(socket);
    QSignalSpy deaths(socket, &KeepAliveSslSocket::deadPeer);
    QStringList events;
    QByteArray readAtDisconnected;
    connect(socket, &KeepAliveSslSocket::deadPeer, this,
            [&] { events << QStringLiteral("deadPeer"); });
    connect(socket, &QAbstractSocket::disconnected, this, [&] {
        events << QStringLiteral("disconnected");
        readAtDisconnected = socket->readAll();
    });
    const QByteArray payload = DeadPeerTest::peerPayload();
    peer->write(payload);
    QVERIFY(peer->waitForBytesWritten(5000));
    QTRY_COMPARE_WITH_TIMEOUT(socket->bytesAvailable(), qint64(payload.size()), 5000);
    QTest::qWait(100);
    QElapsedTimer clock;
    clock.start();
    QVERIFY(silent ? QtKeepAliveTesting::silence(peer) : QtKeepAliveTesting::resetConnection(peer));
    QTRY_COMPARE_WITH_TIMEOUT(events.size(), 2, 10000);
    qInfo() << "composed socket: deadPeer after" << clock.elapsed() << "ms";
    QCOMPARE(events, QStringList({QStringLiteral("deadPeer"), QStringLiteral("disconnected")}));
    QCOMPARE(deaths.at(0).at(0).value<DeadPeerReason>(),
             silent ? DeadPeerReason::KeepAliveTimeout : DeadPeerReason::ConnectionReset);
    QCOMPARE(engine->deadPeerReason(), deaths.at(0).at(0).value<DeadPeerReason>());
    QCOMPARE(readAtDisconnected, payload);
    QCOMPARE(engine->health().state, ConnectionHealth::TcpState::Closed);
    QTest::qWait(300);
    QCOMPARE(deaths.count(), 1);
}

// A library socket's own connection is watched through the process-wide
// hook (no event filter, so no extra object data, on Qt's notifiers), on
// both sides; a connection that sits in an inner socket (a KeepAliveSslSocket's)
// keeps event filters on that socket's notifiers.
void tst_Engine::sharedHookOnlyForOwnConnections()
{
    QVERIFY(NotifierInspector::sharedHookInstalled());
    KeepAliveServer keepAliveServer;
    QVERIFY(keepAliveServer.listen(QHostAddress::LocalHost, 0));
    KeepAliveSocket client;
    client.connectToHost(QHostAddress::LocalHost, keepAliveServer.serverPort());
    QVERIFY(client.waitForConnected(5000));
    QVERIFY(keepAliveServer.waitForNewConnection(5000));
    KeepAliveSocket *accepted = keepAliveServer.nextPendingConnection();
    QVERIFY(accepted);
    // The public-API-only mode leaves Qt's notifiers alone.
    const bool precise = QtInternals::trusted();
    QCOMPARE(KeepAliveEngine::of(&client)->usesSharedHook(), precise);
    QCOMPARE(KeepAliveEngine::of(accepted)->usesSharedHook(), precise);

    QTcpServer server;
    KeepAliveEngine *engine = nullptr;
    QTcpSocket *peer = nullptr;
    KeepAliveSslSocket *composed = connectComposed(server, engine, peer);
    QVERIFY(composed);
    QVERIFY(!engine->usesSharedHook());
    if (precise)
        QCOMPARE(engine->transportSocket(), innerSocket(*composed));

    // Both report what arrives: data written to each reaches it.
    QSignalSpy clientRead(&client, &QIODevice::readyRead);
    accepted->write("to the client");
    QVERIFY(clientRead.wait(5000));
    QCOMPARE(client.readAll(), QByteArray("to the client"));
}

QTEST_MAIN(tst_Engine)
#include "tst_engine.moc"
