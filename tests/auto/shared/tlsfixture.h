// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// The fault tests' two transports: plain TCP (KeepAliveSocket against a
// QTcpServer's sockets) and TLS (KeepAliveSslSocket against a QSslServer's,
// Qt's TLS backend on both ends). The certificate is made at test time with
// the openssl tool: a self-signed EC P-256 one for localhost, 127.0.0.1 and
// 127.0.42.1, valid for two days, trusted by the client alone. Under
// tests/auto/crossfaults/peerhelper.py, which makes the same one on the Linux
// host (a Windows program under Wine cannot start the Linux tool), the files
// it names in KEEPALIVE_TLS_CERT and KEEPALIVE_TLS_KEY.

#include "deadpeerwatch.h"

#include <KeepAliveSslSocket>

#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslServer>
#include <QtNetwork/QSslSocket>
#include <QtNetwork/QTcpServer>
#include <QtTest/QTest>

#include <memory>

namespace DeadPeerTest {

enum class Transport { Plain, Tls };

inline const char *transportName(Transport transport)
{
    return transport == Transport::Plain ? "plain" : "tls";
}

//! The test certificate and key, made once per test program.
class TlsCredentials
{
public:
    static const TlsCredentials &instance()
    {
        static const TlsCredentials credentials;
        return credentials;
    }

    bool isValid() const { return !certificate.isNull() && !key.isNull(); }

    QSslCertificate certificate;
    QSslKey key;
    //! Why there is no certificate (the openssl tool missing or failing).
    QString error;
    //! PEM files, for third-party peers (openssl s_server) and the tools.
    QString certificatePath;
    QString keyPath;

private:
    TlsCredentials()
    {
        certificatePath = qEnvironmentVariable("KEEPALIVE_TLS_CERT");
        keyPath = qEnvironmentVariable("KEEPALIVE_TLS_KEY");
        if (certificatePath.isEmpty() || keyPath.isEmpty()) {
            certificatePath = m_directory.filePath(QStringLiteral("cert.pem"));
            keyPath = m_directory.filePath(QStringLiteral("key.pem"));
            if (!makeCertificate())
                return;
        }
        const QList<QSslCertificate> certificates = QSslCertificate::fromPath(certificatePath);
        QFile keyFile(keyPath);
        if (certificates.size() != 1 || !keyFile.open(QIODevice::ReadOnly)) {
            error = QStringLiteral("cannot read %1 or %2").arg(certificatePath, keyPath);
            return;
        }
        certificate = certificates.constFirst();
        key = QSslKey(&keyFile, QSsl::Ec);
        if (key.isNull())
            error = QStringLiteral("Qt cannot read the EC key in %1").arg(keyPath);
    }

    //! The pair in m_directory (peerhelper.py's make_certificate() makes the same).
    bool makeCertificate()
    {
        QProcess openssl;
        openssl.start(QStringLiteral("openssl"),
                      {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                       QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                       QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
                       QStringLiteral("-keyout"), keyPath, QStringLiteral("-out"), certificatePath,
                       QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-subj"),
                       QStringLiteral("/CN=qt-keepalive-test"), QStringLiteral("-addext"),
                       QStringLiteral("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.42.1")});
        if (!openssl.waitForFinished(30000) || openssl.exitStatus() != QProcess::NormalExit
            || openssl.exitCode() != 0) {
            error = QStringLiteral("openssl req failed: %1 %2")
                            .arg(openssl.errorString(),
                                 QString::fromLocal8Bit(openssl.readAllStandardError()));
            return false;
        }
        return true;
    }

    QTemporaryDir m_directory;
};

/*!
    In initTestCase() of a suite with TLS rows: fails (or, without the TLS
    backend or the openssl tool, skips unless CI is "true") when TLS cannot
    run here.
*/
#define VERIFY_TLS_AVAILABLE()                                                                     \
  do {                                                                                             \
    QString why;                                                                                   \
    if (!QSslSocket::supportsSsl())                                                                \
      why = QStringLiteral("no TLS backend in this Qt");                                           \
    else if (!DeadPeerTest::TlsCredentials::instance().isValid())                                  \
      why = DeadPeerTest::TlsCredentials::instance().error;                                        \
    if (!why.isEmpty()) {                                                                          \
      if (qEnvironmentVariable("CI") == QStringLiteral("true"))                                    \
        QFAIL(qPrintable(QStringLiteral("CI=true, no skipping: %1").arg(why)));                    \
      QSKIP(qPrintable(why));                                                                      \
    }                                                                                              \
  } while (false)

//! A server whose accepted sockets are plain QTcpSockets, or QSslSockets handed out encrypted.
inline std::unique_ptr<QTcpServer> makeServer(Transport transport)
{
    if (transport == Transport::Plain)
        return std::make_unique<QTcpServer>();
    auto server = std::make_unique<QSslServer>();
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificate(TlsCredentials::instance().certificate);
    configuration.setPrivateKey(TlsCredentials::instance().key);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    server->setSslConfiguration(configuration);
    return server;
}

//! A TLS client trusts the test certificate only.
inline void trustTestCertificate(QSslSocket &client)
{
    QSslConfiguration configuration = client.sslConfiguration();
    configuration.setCaCertificates({TlsCredentials::instance().certificate});
    client.setSslConfiguration(configuration);
    client.setPeerVerifyName(QStringLiteral("localhost"));
}

//! The library's client for \a transport.
inline std::unique_ptr<QAbstractSocket> makeClient(Transport transport)
{
    if (transport == Transport::Plain)
        return std::make_unique<KeepAliveSocket>();
    auto client = std::make_unique<KeepAliveSslSocket>();
    trustTestCertificate(*client);
    return client;
}

//! Qt's own client for \a transport (QTcpSocket, QSslSocket): what the library's must match.
inline std::unique_ptr<QAbstractSocket> makeQtClient(Transport transport)
{
    if (transport == Transport::Plain)
        return std::make_unique<QTcpSocket>();
    auto client = std::make_unique<QSslSocket>();
    trustTestCertificate(*client);
    return client;
}

//! connectToHost(), or connectToHostEncrypted() for a TLS client.
inline void startConnection(QAbstractSocket &client, const QHostAddress &address, quint16 port,
                            QIODevice::OpenMode mode = QIODevice::ReadWrite)
{
    if (auto *tls = qobject_cast<QSslSocket *>(&client))
        tls->connectToHostEncrypted(address.toString(), port, mode);
    else
        client.connectToHost(address, port, mode);
}

//! Connected, and for TLS past the handshake.
inline bool isReady(const QAbstractSocket &socket)
{
    if (socket.state() != QAbstractSocket::ConnectedState)
        return false;
    const auto *tls = qobject_cast<const QSslSocket *>(&socket);
    return !tls || tls->isEncrypted();
}

} // namespace DeadPeerTest
