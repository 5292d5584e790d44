// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// A small in-process proxy for tests, on 127.0.0.1 with a port chosen by the
// system: a SOCKS5 server (RFC 1928: "no authentication", CONNECT to an IPv4
// address or a domain name) or an HTTP CONNECT proxy. After the handshake it
// relays bytes both ways, and a close (FIN or RST) on one side becomes an
// orderly close on the other; a request it cannot serve is dropped. The
// accepted client-facing sockets are there for a test to silence() or
// resetConnection() (a fault between the client and the proxy) or to read the
// client's port from.

#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QtEndian>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#include <memory>
#include <vector>

class TestProxy : public QObject
{
public:
    //! \a type is QNetworkProxy::Socks5Proxy or QNetworkProxy::HttpProxy.
    explicit TestProxy(QNetworkProxy::ProxyType type) : m_type(type)
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *client = m_server.nextPendingConnection())
                serve(client);
        });
    }
    ~TestProxy() override
    {
        // The sockets die with m_server, after m_relays: keep their last signals out.
        for (const auto &relay : m_relays) {
            relay->client->disconnect(this);
            relay->target->disconnect(this);
        }
    }

    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    //! What a client passes to QAbstractSocket::setProxy().
    QNetworkProxy proxy() const
    {
        return QNetworkProxy(m_type, QStringLiteral("127.0.0.1"), port());
    }
    //! The accepted client-facing sockets, oldest first; they live as long as the proxy.
    QList<QTcpSocket *> clientSockets() const
    {
        QList<QTcpSocket *> sockets;
        for (const auto &relay : m_relays)
            sockets << relay->client;
        return sockets;
    }

private:
    struct Relay
    {
        QTcpSocket *client;
        QTcpSocket *target;
        enum { Greeting, Request, Connecting, Relaying } stage;
    };

    void serve(QTcpSocket *client)
    {
        auto *target = new QTcpSocket(client);
        target->setProxy(QNetworkProxy::NoProxy);
        const bool socks = m_type == QNetworkProxy::Socks5Proxy;
        m_relays.push_back(std::make_unique<Relay>(
                Relay{client, target, socks ? Relay::Greeting : Relay::Request}));
        Relay *relay = m_relays.back().get();

        connect(client, &QIODevice::readyRead, this, [this, relay] { clientData(relay); });
        connect(client, &QAbstractSocket::disconnected, this, [relay] {
            if (relay->stage == Relay::Relaying)
                relay->target->disconnectFromHost();
            else
                relay->target->abort();
        });
        connect(target, &QAbstractSocket::connected, this, [relay, socks] {
            relay->stage = Relay::Relaying;
            if (socks) {
                // VER 5, REP 0 (succeeded), RSV, ATYP 1 (IPv4), BND.ADDR, BND.PORT.
                QByteArray reply("\x05\x00\x00\x01\0\0\0\0\0\0", 10);
                qToBigEndian(relay->target->localAddress().toIPv4Address(), reply.data() + 4);
                qToBigEndian(relay->target->localPort(), reply.data() + 8);
                relay->client->write(reply);
            } else {
                relay->client->write("HTTP/1.1 200 Connection established\r\n\r\n");
            }
            relay->target->write(relay->client->readAll());
        });
        connect(target, &QIODevice::readyRead, this, [relay] {
            if (relay->client->state() == QAbstractSocket::ConnectedState)
                relay->client->write(relay->target->readAll());
        });
        // Also when connecting to the target failed.
        connect(target, &QAbstractSocket::stateChanged, this, [relay] {
            if (relay->target->state() == QAbstractSocket::UnconnectedState
                && relay->client->state() == QAbstractSocket::ConnectedState) {
                relay->client->write(relay->target->readAll());
                relay->client->disconnectFromHost();
            }
        });
        clientData(relay);
    }

    void clientData(Relay *relay)
    {
        QTcpSocket *client = relay->client;
        const QByteArray in = client->peek(client->bytesAvailable());
        if (relay->stage == Relay::Relaying) {
            relay->target->write(client->readAll());
        } else if (relay->stage == Relay::Greeting) {
            // VER 5, NMETHODS, METHODS, of which 0 ("no authentication") is chosen.
            if (in.size() < 2 || in.size() < 2 + quint8(in[1]))
                return;
            client->read(2 + quint8(in[1]));
            if (in[0] != 5 || !in.mid(2, quint8(in[1])).contains('\0'))
                return client->abort();
            client->write(QByteArray("\x05\x00", 2));
            relay->stage = Relay::Request;
            clientData(relay);
        } else if (relay->stage == Relay::Request && m_type == QNetworkProxy::Socks5Proxy) {
            // VER 5, CMD 1 (CONNECT), RSV, ATYP 1 (IPv4) or 3 (domain name), DST.ADDR, DST.PORT.
            if (in.size() < 5)
                return;
            const int addressSize = in[3] == 1 ? 4 : in[3] == 3 ? 1 + quint8(in[4]) : -1;
            if (in[0] != 5 || in[1] != 1 || addressSize < 0)
                return client->abort();
            if (in.size() < 4 + addressSize + 2)
                return;
            client->read(4 + addressSize + 2);
            const QString host = in[3] == 1
                    ? QHostAddress(qFromBigEndian<quint32>(in.constData() + 4)).toString()
                    : QString::fromLatin1(in.mid(5, addressSize - 1));
            relay->stage = Relay::Connecting;
            relay->target->connectToHost(host,
                                         qFromBigEndian<quint16>(in.constData() + 4 + addressSize));
        } else if (relay->stage == Relay::Request) {
            // "CONNECT host:port HTTP/1.1", header lines, an empty line.
            const qsizetype end = in.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            client->read(end + 4);
            const QList<QByteArray> words = in.left(in.indexOf("\r\n")).split(' ');
            const QByteArray authority = words.value(1);
            const qsizetype colon = authority.lastIndexOf(':');
            if (words.size() != 3 || words[0] != "CONNECT" || colon < 0)
                return client->abort();
            relay->stage = Relay::Connecting;
            relay->target->connectToHost(QString::fromLatin1(authority.left(colon)),
                                         authority.mid(colon + 1).toUShort());
        }
    }

    const QNetworkProxy::ProxyType m_type;
    QTcpServer m_server;
    std::vector<std::unique_ptr<Relay>> m_relays;
};
