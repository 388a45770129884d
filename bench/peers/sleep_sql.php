<?php
// sleep_sql.php: the php-fpm peer of cofcgi's examples/sleep_sql in `bench/run io`.
// Answers /?s=SECONDS with SELECT SLEEP(SECONDS) through mysqli, the way a PHP site does it:
// a persistent connection ("p:" host), so each php-fpm child keeps one warm MariaDB
// connection, as the threaded libfcgi peer does per thread. bench/run passes the socket
// through the MYSQL_SOCKET environment variable (php-fpm pool env[]).
header('Content-Type: text/plain');
$seconds = $_GET['s'] ?? '0';
if (!preg_match('/^[0-9]{1,6}(\.[0-9]{1,6})?$/', $seconds)) {
    http_response_code(400);
    echo "s must be a number of seconds between 0 and 600\n";
    exit;
}
try {
    $db = new mysqli('p:localhost', 'root', '', '', 0, getenv('MYSQL_SOCKET'));
    $row = $db->query("SELECT SLEEP($seconds)")->fetch_row();
    echo "SLEEP($seconds) = $row[0]\n";
} catch (mysqli_sql_exception $e) {
    error_log('sleep_sql.php: ' . $e->getMessage());
    http_response_code(503);
    echo "database unavailable\n";
}
