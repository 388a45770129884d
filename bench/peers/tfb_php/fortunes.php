<?php
require __DIR__ . '/common.php';
header('Content-Type: text/html; charset=utf-8');
$fortunes = tfb_pdo()->query('SELECT id, message FROM Fortune')->fetchAll(PDO::FETCH_KEY_PAIR);
$fortunes[0] = 'Additional fortune added at request time.';
asort($fortunes, SORT_STRING);
echo '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>',
    '<tr><th>id</th><th>message</th></tr>';
foreach ($fortunes as $id => $message) {
    echo '<tr><td>', $id, '</td><td>', htmlspecialchars($message, ENT_QUOTES, 'UTF-8'), '</td></tr>';
}
echo '</table></body></html>';
