// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// keepalive-websocket-server: a WebSocket echo server whose clients are
// watched twice. A KeepAliveServer (with --cert and --key a
// KeepAliveSslServer, for wss://) accepts the TCP connections, applies the
// keepalive options and reports every client it loses with the reason; it
// hands each connection to a QWebSocketServer that does not listen itself.
// Every QWebSocket gets a KeepAliveHeartbeat that sends WebSocket pings,
// which every WebSocket peer answers by itself. A host that vanished is
// found by keepalive, a hung peer process by the heartbeat: the server
// reports both, the latter as HeartbeatTimeout.

#include "../shared/keepalivetool.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>
#include <KeepAliveSslServer>

#include <QtCore/QCoreApplication>
#include <QtCore/QFile>
#include <QtCore/QJsonObject>
#include <QtCore/QSet>
#include <QtCore/QTimer>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#include <QtWebSockets/QWebSocket>
#include <QtWebSockets/QWebSocketServer>

#include <algorithm>
#include <memory>

using namespace std::chrono;
using namespace KeepAliveTool;

namespace {

QList<QCommandLineOption> describeCommandLine(QCommandLineParser &parser)
{
    parser.setApplicationDescription(
            QStringLiteral("A WebSocket echo server on a KeepAliveServer: every connection has "
                           "TCP keepalive and a heartbeat of WebSocket pings. Logs connects, "
                           "lost clients with the reason and disconnects.\n\n")
            + exitCodeHelp(true));
    parser.addHelpOption();
    parser.addVersionOption();
    const QList<QCommandLineOption> options{
            {QStringLiteral("heartbeat"),
             QStringLiteral("Ping a client silent for INTERVAL (default 10 s); dead after "
                            "MAXMISSED unanswered pings (default 3)."),
             QStringLiteral("interval[,maxmissed]")},
            {QStringLiteral("stats"),
             QStringLiteral("Print the clients and their round-trip times every INTERVAL."),
             QStringLiteral("interval")},
            {QStringLiteral("cert"), QStringLiteral("wss://: the certificate chain (PEM)."),
             QStringLiteral("file")},
            {QStringLiteral("key"), QStringLiteral("wss://: the unencrypted private key (PEM)."),
             QStringLiteral("file")},
    };
    return listenCommandLineOptions(8765) + options + keepAliveCommandLineOptions();
}

// --cert and --key: the TLS configuration of a wss:// server.
std::optional<UsageError> readTls(const QCommandLineParser &parser, QSslConfiguration *tls)
{
    const QString certificate = parser.value(QStringLiteral("cert"));
    const QString keyPath = parser.value(QStringLiteral("key"));
    if (certificate.isEmpty() || keyPath.isEmpty())
        return UsageError{QStringLiteral("--cert and --key go together")};
    const QList<QSslCertificate> chain = QSslCertificate::fromPath(
            certificate, QSsl::Pem, QSslCertificate::PatternSyntax::FixedString);
    if (chain.isEmpty())
        return UsageError{
                QStringLiteral("--cert \"%1\": no PEM certificate in it").arg(certificate)};
    QFile file(keyPath);
    const QByteArray pem = file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
    QSslKey key(pem, QSsl::Ec);
    if (key.isNull())
        key = QSslKey(pem, QSsl::Rsa);
    if (key.isNull())
        return UsageError{QStringLiteral("--key \"%1\": no unencrypted PEM key (EC or RSA) in it")
                                  .arg(keyPath)};
    *tls = QSslConfiguration::defaultConfiguration();
    tls->setLocalCertificateChain(chain);
    tls->setPrivateKey(key);
    tls->setPeerVerifyMode(QSslSocket::VerifyNone);
    return std::nullopt;
}

// --heartbeat INTERVAL[,MAXMISSED], judged by the library: a heartbeat that only holds the settings.
std::optional<UsageError> configure(const QCommandLineParser &parser, KeepAliveHeartbeat *heartbeat)
{
    if (!parser.isSet(QStringLiteral("heartbeat")))
        return std::nullopt;
    UsageError error;
    const QString text = parser.value(QStringLiteral("heartbeat"));
    const std::optional<HeartbeatSetting> setting =
            parseHeartbeatSetting(QStringLiteral("heartbeat"), text, &error);
    if (!setting)
        return error;
    const QString rejected = applyHeartbeatSetting(*setting, heartbeat);
    if (!rejected.isEmpty())
        return UsageError{QStringLiteral("--heartbeat %1: %2").arg(text, rejected)};
    return std::nullopt;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    setUpTool(QStringLiteral("keepalive-websocket-server"));
    QCommandLineParser parser;
    if (const std::optional<int> exitCode =
                handleCommandLine(parser, describeCommandLine(parser), app.arguments()))
        return *exitCode;
    if (!parser.positionalArguments().isEmpty())
        return usage({QStringLiteral("unexpected argument \"%1\" (see --help)")
                              .arg(parser.positionalArguments().constFirst())});
    QHostAddress address(QHostAddress::LocalHost);
    quint16 port = 8765;
    if (const std::optional<UsageError> listenError =
                parseListen(parser, QStringLiteral("address"), &address, &port))
        return usage(*listenError);
    UsageError error;
    const std::optional<KeepAliveOptions> options = keepAliveOptionsFromCommandLine(parser, &error);
    if (!options)
        return usage(error);
    std::optional<milliseconds> stats;
    if (parser.isSet(QStringLiteral("stats"))
        && !(stats = parseTimerDuration(parser, QStringLiteral("stats"), &error)))
        return usage(error);
    QWebSocket unconnected; // its heartbeat holds the settings for every client's
    auto *settings = new KeepAliveHeartbeat(&unconnected);
    if (const std::optional<UsageError> settingError = configure(parser, settings))
        return usage(*settingError);

    Output out(false, false);
    const auto lost = [&out](QAbstractSocket *client, QtKeepAlive::ClientLossReason reason) {
        out.event(QStringLiteral("lost"),
                  QStringLiteral("lost %1 %2 %3")
                          .arg(endpoint(client->peerAddress(), client->peerPort()),
                               enumName(reason), client->errorString()));
    };
    std::unique_ptr<QTcpServer> server;
    const bool secure = parser.isSet(QStringLiteral("cert")) || parser.isSet(QStringLiteral("key"));
    if (secure) {
        QSslConfiguration tls;
        if (const std::optional<UsageError> tlsError = readTls(parser, &tls))
            return usage(*tlsError);
        auto *sslServer = new KeepAliveSslServer;
        server.reset(sslServer);
        sslServer->setSslConfiguration(tls);
        sslServer->setKeepAliveOptions(*options);
        QObject::connect(sslServer, &KeepAliveSslServer::clientLost, sslServer, lost);
    } else {
        auto *plainServer = new KeepAliveServer;
        server.reset(plainServer);
        plainServer->setKeepAliveOptions(*options);
        QObject::connect(plainServer, &KeepAliveServer::clientLost, plainServer, lost);
    }

    QSet<const KeepAliveHeartbeat *> heartbeats;
    // Every client, once connected (wss://: encrypted), goes to the QWebSocketServer
    // for the WebSocket handshake. It is deleted once disconnected; QWebSocket does
    // not own it.
    QWebSocketServer webSockets(QStringLiteral("keepalive-websocket-server"),
                                secure ? QWebSocketServer::SecureMode
                                       : QWebSocketServer::NonSecureMode);
    QObject::connect(server.get(), &QTcpServer::pendingConnectionAvailable, &webSockets, [&] {
        while (QTcpSocket *socket = server->nextPendingConnection()) {
            QObject::connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
            webSockets.handleConnection(socket);
        }
    });
    QObject::connect(&webSockets, &QWebSocketServer::newConnection, &webSockets, [&] {
        while (QWebSocket *webSocket = webSockets.nextPendingConnection()) {
            webSocket->setParent(&webSockets);
            const QString peer = endpoint(webSocket->peerAddress(), webSocket->peerPort());
            auto *heartbeat = new KeepAliveHeartbeat(webSocket);
            heartbeat->setInterval(settings->interval());
            heartbeat->setMaxMissed(settings->maxMissed());
            heartbeats.insert(heartbeat);
            QObject::connect(heartbeat, &QObject::destroyed, &webSockets,
                             [&heartbeats, heartbeat] { heartbeats.remove(heartbeat); });
            QObject::connect(webSocket, &QWebSocket::textMessageReceived, webSocket,
                             &QWebSocket::sendTextMessage);
            QObject::connect(webSocket, &QWebSocket::disconnected, webSocket,
                             [&out, webSocket, peer] {
                                 out.event(QStringLiteral("disconnected"),
                                           QStringLiteral("disconnected ") + peer);
                                 webSocket->deleteLater();
                             });
            out.event(QStringLiteral("connected"), QStringLiteral("connected ") + peer);
        }
    });

    if (!server->listen(address, port)) {
        printError(QStringLiteral("cannot listen on %1: %2")
                           .arg(endpoint(address, port), server->errorString()));
        return ExitNetwork;
    }
    out.event(QStringLiteral("listening"),
              QStringLiteral("listening on %1 (%2); heartbeat %3, %4 missed; keepalive %5")
                      .arg(endpoint(server->serverAddress(), server->serverPort()),
                           secure ? QStringLiteral("wss") : QStringLiteral("ws"),
                           formatDuration(settings->interval()))
                      .arg(settings->maxMissed())
                      .arg(describe(*options)));
    QTimer statsTimer;
    QObject::connect(&statsTimer, &QTimer::timeout, &statsTimer, [&] {
        QJsonObject fields{{QStringLiteral("clients"), qint64(heartbeats.size())}};
        const QString roundTrip = roundTripSummary(heartbeats.values(), &fields);
        out.event(QStringLiteral("stats"),
                  QStringLiteral("stats: %1 client(s)%2").arg(heartbeats.size()).arg(roundTrip),
                  fields);
    });
    if (stats)
        statsTimer.start(*stats);
    StopSignals stopSignals;
    QObject::connect(&stopSignals, &StopSignals::stopRequested, &app, &QCoreApplication::quit);
    return QCoreApplication::exec();
}
