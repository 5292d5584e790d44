// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// One canary per assumption about Qt's socket internals (QtInternals in
// src/qtseam/qtinternals_p.h). Each looks at plain Qt classes (QTcpSocket,
// QTcpServer, QSslSocket, Qt's SOCKS5 and HTTP proxy engines), exactly where
// the library looks, and fails with the assumption's name and the Qt
// version. The last test checks that the library's own run-time checks agree
// on this Qt: every path taken, no check failed, no warning.

#include "../../shared/testproxy.h"

#include "nativetransport_p.h"
#include "notifierinspector_p.h"
#include "qtinternals_p.h"

#include <KeepAliveSocket>

#include <QtCore/QPointer>
#include <QtCore/QScopeGuard>
#include <QtCore/QSocketNotifier>
#include <QtNetwork/QSslSocket>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <cerrno>
#include <memory>

#if defined(Q_OS_UNIX)
#  include <sys/socket.h>
#endif

using QtInternals::Assumption;

namespace {

constexpr int Timeout = 5000;

QByteArray canaryMessage(Assumption assumption, const QString &what)
{
    return QStringLiteral("Qt %1: the assumption \"%2\" no longer holds: %3")
            .arg(QLatin1String(qVersion()), QtInternals::describe(assumption), what)
            .toLocal8Bit();
}

#define CANARY(assumption, condition, what)                                                        \
  QVERIFY2(condition, canaryMessage(assumption, what).constData())

QObject *childInheriting(const QObject *parent, const char *className)
{
    for (QObject *child : parent->children()) {
        if (child->inherits(className))
            return child;
    }
    return nullptr;
}

QSocketNotifier *notifierOf(const QObject *engine, QSocketNotifier::Type type)
{
    for (QObject *child : engine->children()) {
        auto *notifier = qobject_cast<QSocketNotifier *>(child);
        if (notifier && notifier->type() == type)
            return notifier;
    }
    return nullptr;
}

// The read notifier of a connected socket's native engine, found as the
// library finds it.
QSocketNotifier *readNotifierOf(const QAbstractSocket *socket)
{
    const QObject *engine = childInheriting(socket, "QNativeSocketEngine");
    return engine ? notifierOf(engine, QSocketNotifier::Read) : nullptr;
}

// Records what passes the read notifier, and clears errno there as the
// library does, so that the read's own errno is what errorOccurred() sees.
class ActivationFilter : public QObject
{
public:
    int activations = 0;
    int closes = 0; //!< QEvent::SockClose (Windows: FD_CLOSE)

protected:
    bool eventFilter(QObject *, QEvent *event) override
    {
        if (event->type() == QEvent::SockAct) {
            ++activations;
            errno = 0;
        } else if (event->type() == QEvent::SockClose) {
            ++closes;
        }
        return false;
    }
};

// Collects every message of the library's qtkeepalive.qtinternals category.
QStringList g_internalsWarnings;
QtMessageHandler g_previousHandler = nullptr;
void recordInternalsWarnings(QtMsgType type, const QMessageLogContext &context,
                             const QString &message)
{
    if (context.category && qstrcmp(context.category, "qtkeepalive.qtinternals") == 0)
        g_internalsWarnings << message;
    g_previousHandler(type, context, message);
}

} // namespace

class tst_QtInternals : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanup();
    void nativeEngineChild_data();
    void nativeEngineChild();
    void notifierChildren();
    void sockActDelivery();
    void syntheticSockAct();
    void sockCloseDelivery();
    void errnoSurvivesRead_data();
    void errnoSurvivesRead();
    void proxyInnerSocket_data();
    void proxyInnerSocket();
    void sslPlainSocket();
    void serverAcceptNotifier();
    void libraryChecksAgree();
    void cleanupTestCase();

private:
    // A connected pair on 127.0.0.1: `client` connected, the accepted peer returned.
    QTcpSocket *connectPair(QAbstractSocket &client);

    std::unique_ptr<QTcpServer> m_server;
};

void tst_QtInternals::initTestCase()
{
    qInfo("Qt %s (built against %s)", qVersion(), QT_VERSION_STR);
    g_previousHandler = qInstallMessageHandler(recordInternalsWarnings);
}

void tst_QtInternals::cleanup()
{
    m_server.reset();
}

void tst_QtInternals::cleanupTestCase()
{
    qInstallMessageHandler(g_previousHandler);
}

QTcpSocket *tst_QtInternals::connectPair(QAbstractSocket &client)
{
    m_server = std::make_unique<QTcpServer>();
    if (!m_server->listen(QHostAddress::LocalHost, 0))
        return nullptr;
    client.connectToHost(QHostAddress::LocalHost, m_server->serverPort());
    if (!QTest::qWaitFor(
                [&] {
                    return client.state() == QAbstractSocket::ConnectedState
                            && m_server->hasPendingConnections();
                },
                Timeout))
        return nullptr;
    return m_server->nextPendingConnection();
}

void tst_QtInternals::nativeEngineChild_data()
{
    QTest::addColumn<bool>("accepted");
    QTest::newRow("connected with connectToHost()") << false;
    QTest::newRow("adopted by QTcpServer (setSocketDescriptor())") << true;
}

void tst_QtInternals::nativeEngineChild()
{
    QFETCH(bool, accepted);
    QTcpSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QAbstractSocket *socket = accepted ? peer : &client;
    int engines = 0;
    for (QObject *child : socket->children())
        engines += child->inherits("QNativeSocketEngine") ? 1 : 0;
    CANARY(Assumption::NativeEngineChild, engines == 1,
           QStringLiteral("%1 children inherit QNativeSocketEngine").arg(engines));
    QObject *engine = childInheriting(socket, "QNativeSocketEngine");
    CANARY(Assumption::NativeEngineChild, engine->inherits("QAbstractSocketEngine"),
           QStringLiteral("%1 does not inherit QAbstractSocketEngine")
                   .arg(QLatin1String(engine->metaObject()->className())));
}

void tst_QtInternals::notifierChildren()
{
    // The library attaches in connected(), before any application slot.
    QTcpSocket client;
    QPointer<QObject> engineAtConnected;
    bool readerAtConnected = false;
    connect(&client, &QAbstractSocket::connected, this, [&] {
        engineAtConnected = childInheriting(&client, "QNativeSocketEngine");
        readerAtConnected = engineAtConnected
                && notifierOf(engineAtConnected, QSocketNotifier::Read) != nullptr;
    });
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QVERIFY(engineAtConnected);
    CANARY(Assumption::NotifierChildren, readerAtConnected,
           QStringLiteral("no read QSocketNotifier among the engine's children in connected()"));
    QObject *engine = childInheriting(&client, "QNativeSocketEngine");
    QSocketNotifier *reader = notifierOf(engine, QSocketNotifier::Read);
    CANARY(Assumption::NotifierChildren, reader && reader->socket() == client.socketDescriptor(),
           QStringLiteral("the read notifier does not watch socketDescriptor()"));
    // The write notifier comes with the first write Qt cannot finish at once;
    // a large one through a peer that does not read forces it.
    client.write(QByteArray(8 << 20, 'x'));
    QVERIFY(QTest::qWaitFor([&] { return notifierOf(engine, QSocketNotifier::Write) != nullptr; },
                            Timeout)
            || notifierOf(engine, QSocketNotifier::Write));
    QSocketNotifier *writer = notifierOf(engine, QSocketNotifier::Write);
    CANARY(Assumption::NotifierChildren, writer && writer->socket() == client.socketDescriptor(),
           QStringLiteral("no write QSocketNotifier among the engine's children while writing"));
}

namespace {
// What Qt's event notification callback (the library's shared hook) saw.
const QObject *g_callbackWatched = nullptr;
int g_callbackActivations = 0;
bool countCallbackActivations(void **data)
{
    if (data[0] == g_callbackWatched && static_cast<QEvent *>(data[1])->type() == QEvent::SockAct)
        ++g_callbackActivations;
    return false;
}
} // namespace

void tst_QtInternals::sockActDelivery()
{
    QTcpSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QSocketNotifier *reader = readNotifierOf(&client);
    QVERIFY(reader);
    ActivationFilter filter;
    reader->installEventFilter(&filter);
    g_callbackWatched = reader;
    g_callbackActivations = 0;
    QVERIFY(QInternal::registerCallback(QInternal::EventNotifyCallback, countCallbackActivations));
    const auto unregister = qScopeGuard([] {
        QInternal::unregisterCallback(QInternal::EventNotifyCallback, countCallbackActivations);
        g_callbackWatched = nullptr;
    });
    int activationsAtReadyRead = -1;
    int callbackActivationsAtReadyRead = -1;
    connect(&client, &QIODevice::readyRead, this, [&] {
        activationsAtReadyRead = filter.activations;
        callbackActivationsAtReadyRead = g_callbackActivations;
    });
    peer->write("ping");
    QVERIFY(QTest::qWaitFor([&] { return activationsAtReadyRead != -1; }, Timeout));
    CANARY(Assumption::SockActDelivery, activationsAtReadyRead >= 1,
           QStringLiteral("readyRead() came before any QEvent::SockAct reached the filter"));
    CANARY(Assumption::SockActDelivery, callbackActivationsAtReadyRead >= 1,
           QStringLiteral("readyRead() came before Qt's event notification callback "
                          "(QInternal::EventNotifyCallback) saw a QEvent::SockAct"));
    // The library's own hook is that callback, in place since it was loaded.
    QVERIFY(NotifierInspector::sharedHookInstalled());
}

void tst_QtInternals::syntheticSockAct()
{
    QTcpSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QSocketNotifier *reader = readNotifierOf(&client);
    QVERIFY(reader);
    // In the kernel, not yet read by Qt (no event loop turn in between).
    peer->write("ping");
    QVERIFY(peer->waitForBytesWritten(Timeout));
    QTest::qSleep(100);
    QCOMPARE(client.bytesAvailable(), qint64(0));
    QSignalSpy readyRead(&client, &QIODevice::readyRead);
    QEvent activation(QEvent::SockAct);
    QCoreApplication::sendEvent(reader, &activation);
    CANARY(Assumption::SyntheticSockAct, client.bytesAvailable() == 4 && readyRead.count() == 1,
           QStringLiteral("after a sent SockAct: %1 bytes available, %2 readyRead()")
                   .arg(client.bytesAvailable())
                   .arg(readyRead.count()));
}

void tst_QtInternals::sockCloseDelivery()
{
#if defined(Q_OS_WIN)
    // Qt's Windows event dispatcher turns FD_CLOSE into QEvent::SockClose,
    // sent to the read notifier, and Qt reads (and meets the end) on it.
    QTcpSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QSocketNotifier *reader = readNotifierOf(&client);
    QVERIFY(reader);
    ActivationFilter filter;
    reader->installEventFilter(&filter);
    int closesAtError = -1;
    connect(&client, &QAbstractSocket::errorOccurred, this, [&] { closesAtError = filter.closes; });
    peer->close();
    QVERIFY(QTest::qWaitFor([&] { return closesAtError != -1; }, Timeout));
    CANARY(Assumption::SockCloseDelivery, closesAtError >= 1,
           QStringLiteral("the peer's FIN was read without a QEvent::SockClose on the read "
                          "notifier (%1 SockAct)")
                   .arg(filter.activations));
#else
    QSKIP("Windows only: other event dispatchers end a connection through SockAct");
#endif
}

void tst_QtInternals::errnoSurvivesRead_data()
{
    QTest::addColumn<bool>("reset");
    QTest::addColumn<int>("expectedErrno");
    QTest::addColumn<int>("expectedError");
    QTest::newRow("RST: ECONNRESET")
            << true << ECONNRESET << int(QAbstractSocket::RemoteHostClosedError);
    QTest::newRow("FIN: 0") << false << 0 << int(QAbstractSocket::RemoteHostClosedError);
}

void tst_QtInternals::errnoSurvivesRead()
{
#if defined(Q_OS_WIN)
    QSKIP("POSIX only: on Windows the library does not rely on the read's own error "
          "(osErrorSurvivesQtRead() is false)");
#else
    QFETCH(bool, reset);
    QFETCH(int, expectedErrno);
    QFETCH(int, expectedError);
    QTcpSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QSocketNotifier *reader = readNotifierOf(&client);
    QVERIFY(reader);
    ActivationFilter filter;
    reader->installEventFilter(&filter);
    int errnoAtError = -1;
    QAbstractSocket::SocketError error = QAbstractSocket::UnknownSocketError;
    connect(&client, &QAbstractSocket::errorOccurred, this, [&](QAbstractSocket::SocketError e) {
        errnoAtError = errno;
        error = e;
    });
    if (reset) {
        const linger abortive{1, 0};
        QCOMPARE(::setsockopt(int(peer->socketDescriptor()), SOL_SOCKET, SO_LINGER, &abortive,
                              sizeof abortive),
                 0);
    }
    peer->close();
    QVERIFY(QTest::qWaitFor([&] { return errnoAtError != -1; }, Timeout));
    QCOMPARE(int(error), expectedError);
    CANARY(Assumption::ErrnoSurvivesRead, errnoAtError == expectedErrno,
           QStringLiteral("errno %1 in errorOccurred(), expected %2")
                   .arg(errnoAtError)
                   .arg(expectedErrno));
#endif
}

void tst_QtInternals::proxyInnerSocket_data()
{
    QTest::addColumn<QNetworkProxy::ProxyType>("type");
    QTest::newRow("SOCKS5") << QNetworkProxy::Socks5Proxy;
    QTest::newRow("HTTP CONNECT") << QNetworkProxy::HttpProxy;
}

void tst_QtInternals::proxyInnerSocket()
{
    QFETCH(QNetworkProxy::ProxyType, type);
    TestProxy proxy(type);
    QVERIFY(proxy.listen());
    QTcpServer target;
    QVERIFY(target.listen(QHostAddress::LocalHost, 0));
    QTcpSocket client;
    client.setProxy(proxy.proxy());
    client.connectToHost(QStringLiteral("127.0.0.1"), target.serverPort());
    QVERIFY(QTest::qWaitFor(
            [&] {
                return client.state() == QAbstractSocket::ConnectedState
                        && proxy.clientSockets().size() == 1;
            },
            Timeout));
    QObject *proxyEngine = childInheriting(&client, "QAbstractSocketEngine");
    CANARY(Assumption::ProxyInnerSocket, proxyEngine,
           QStringLiteral("no child of the proxied socket inherits QAbstractSocketEngine"));
    CANARY(Assumption::ProxyInnerSocket, !proxyEngine->inherits("QNativeSocketEngine"),
           QStringLiteral("the proxied socket's engine is native"));
    QAbstractSocket *inner = nullptr;
    for (QObject *child : proxyEngine->children()) {
        if (auto *socket = qobject_cast<QAbstractSocket *>(child))
            inner = socket;
    }
    CANARY(Assumption::ProxyInnerSocket, inner,
           QStringLiteral("%1 has no child QAbstractSocket")
                   .arg(QLatin1String(proxyEngine->metaObject()->className())));
    // That inner socket is the connection to the proxy.
    QTcpSocket *proxySide = proxy.clientSockets().constFirst();
    CANARY(Assumption::ProxyInnerSocket,
           inner->peerPort() == proxy.port() && inner->localPort() == proxySide->peerPort(),
           QStringLiteral("the inner socket is not the connection to the proxy"));
}

void tst_QtInternals::sslPlainSocket()
{
    // Unencrypted: the plain socket exists whether or not a TLS backend does.
    QSslSocket client;
    QTcpSocket *peer = connectPair(client);
    QVERIFY(peer);
    QAbstractSocket *plain = nullptr;
    for (QObject *child : client.children()) {
        if (auto *socket = qobject_cast<QAbstractSocket *>(child))
            plain = socket;
    }
    CANARY(Assumption::SslPlainSocket, plain,
           QStringLiteral("a connected QSslSocket has no child QAbstractSocket"));
    CANARY(Assumption::SslPlainSocket, childInheriting(plain, "QNativeSocketEngine"),
           QStringLiteral("the QSslSocket's inner socket has no native engine"));
    CANARY(Assumption::SslPlainSocket,
           plain->socketDescriptor() == client.socketDescriptor()
                   && plain->localPort() == peer->peerPort(),
           QStringLiteral("the inner socket is not the QSslSocket's connection"));
}

// KeepAliveServer keeps a paused server paused when it rebuilds the pending
// queue: it finds the notifier through which QTcpServer accepts.
void tst_QtInternals::serverAcceptNotifier()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    QObject *engine = childInheriting(&server, "QNativeSocketEngine");
    CANARY(Assumption::ServerAcceptNotifier, engine,
           QStringLiteral("a listening QTcpServer has no child inheriting QNativeSocketEngine"));
    QSocketNotifier *accepting = notifierOf(engine, QSocketNotifier::Read);
    CANARY(Assumption::ServerAcceptNotifier,
           accepting && accepting->isEnabled() && accepting->socket() == server.socketDescriptor(),
           QStringLiteral("no enabled read notifier on the listening descriptor"));
    server.pauseAccepting();
    CANARY(Assumption::ServerAcceptNotifier, !accepting->isEnabled(),
           QStringLiteral("pauseAccepting() leaves the read notifier enabled"));
    server.resumeAccepting();
    CANARY(Assumption::ServerAcceptNotifier, accepting->isEnabled(),
           QStringLiteral("resumeAccepting() leaves the read notifier disabled"));
    const bool publicOnly =
            qEnvironmentVariableIntValue("QTKEEPALIVE_TESTING_PUBLIC_API_ONLY") != 0;
    QCOMPARE(QtInternals::acceptNotifier(&server), publicOnly ? nullptr : accepting);
    server.close();
    QCOMPARE(QtInternals::acceptNotifier(&server), nullptr);
}

// The library's run-time checks on the same paths: the connection is found
// through Qt's internals every time, nothing is declared broken. With the
// testing switch QTKEEPALIVE_TESTING_PUBLIC_API_ONLY=1, the same paths in the
// public-API-only mode: no engine used, the socket's own descriptor where it
// is the connection, nothing at all behind a proxy.
void tst_QtInternals::libraryChecksAgree()
{
    const bool publicOnly =
            qEnvironmentVariableIntValue("QTKEEPALIVE_TESTING_PUBLIC_API_ONLY") != 0;
    QCOMPARE(QtInternals::trusted(), !publicOnly);
    g_internalsWarnings.clear();
    {
        KeepAliveSocket client;
        QTcpSocket *peer = connectPair(client);
        QVERIFY(peer);
        peer->write("ping");
        QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(4), Timeout);
        QVERIFY(client.flush() || client.bytesToWrite() == 0);
        QCOMPARE(client.effectiveKeepAliveOptions().enabled, std::optional<bool>(true));
        const NativeTransport transport = NativeTransport::find(&client);
        QCOMPARE(transport.engine() != nullptr, !publicOnly);
        QCOMPARE(transport.descriptor(), client.socketDescriptor());
        peer->close();
        QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::UnconnectedState, Timeout);
    }
    for (const auto type : {QNetworkProxy::Socks5Proxy, QNetworkProxy::HttpProxy}) {
        TestProxy proxy(type);
        QVERIFY(proxy.listen());
        QTcpServer target;
        QVERIFY(target.listen(QHostAddress::LocalHost, 0));
        KeepAliveSocket client;
        client.setProxy(proxy.proxy());
        client.connectToHost(QStringLiteral("127.0.0.1"), target.serverPort());
        QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::ConnectedState, Timeout);
        QCOMPARE(client.keepAliveError(),
                 publicOnly ? KeepAliveSocket::KeepAliveError::OptionRefused
                            : KeepAliveSocket::KeepAliveError::NoError);
        QCOMPARE(client.effectiveKeepAliveOptions().enabled,
                 publicOnly ? std::optional<bool>() : std::optional<bool>(true));
    }
    {
        QSslSocket client;
        QVERIFY(connectPair(client));
        const NativeTransport transport = NativeTransport::find(&client);
        QCOMPARE(transport.engine() != nullptr, !publicOnly);
        QCOMPARE(transport.socket() != &client, !publicOnly);
        QCOMPARE(transport.descriptor(), client.socketDescriptor());
    }
    QCOMPARE(QtInternals::trusted(), !publicOnly);
    QVERIFY2(g_internalsWarnings.isEmpty(), qPrintable(g_internalsWarnings.join(u'\n')));
}

QTEST_GUILESS_MAIN(tst_QtInternals)
#include "tst_qtinternals.moc"
