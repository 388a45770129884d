<?php
// What the TechEmpower scripts share, written for bench/run tfb after TFB's own PHP entry
// (frameworks/PHP/php: nginx + php-fpm + PDO, persistent connections, PDO's default
// emulated prepares, one UPDATE per row): the connection, the ?queries= rule, random ids.
// nginx passes the DSN as the fastcgi_param TFB_DSN (bench/scenarios/tfb.sh).

function tfb_pdo(): PDO
{
    return new PDO($_SERVER['TFB_DSN'], 'benchmarkdbuser', 'benchmarkdbpass', [
        PDO::ATTR_PERSISTENT => true,
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    ]);
}

// TFB's rule: an integer clamped to 1..500, anything else counts as 1.
function tfb_queries(): int
{
    $raw = trim($_GET['queries'] ?? '');
    if (!preg_match('/^[+-]?[0-9]+$/', $raw)) {
        return 1;
    }
    if ($raw[0] === '-') {
        return 1;
    }
    $digits = ltrim($raw, '+0');
    if (strlen($digits) > 3) {
        return 500;
    }
    return max(1, min(500, (int) $digits));
}

function tfb_random_id(): int
{
    return mt_rand(1, 10000);
}

// tfb_worlds: $count worlds, one SELECT each, as id => randomNumber pairs in a list.
function tfb_worlds(PDO $pdo, int $count): array
{
    $select = $pdo->prepare('SELECT id, randomNumber FROM World WHERE id = ?');
    $worlds = [];
    for ($i = 0; $i < $count; $i++) {
        $select->execute([tfb_random_id()]);
        $row = $select->fetch(PDO::FETCH_NUM);
        $worlds[] = ['id' => (int) $row[0], 'randomNumber' => (int) $row[1]];
    }
    return $worlds;
}
