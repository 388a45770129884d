<?php
require __DIR__ . '/common.php';
header('Content-Type: application/json');
$pdo = tfb_pdo();
$worlds = tfb_worlds($pdo, tfb_queries());
// One UPDATE per row, as TFB's PHP entry does.
$update = $pdo->prepare('UPDATE World SET randomNumber = ? WHERE id = ?');
foreach ($worlds as &$world) {
    $world['randomNumber'] = tfb_random_id();
    $update->execute([$world['randomNumber'], $world['id']]);
}
unset($world);
echo json_encode($worlds);
