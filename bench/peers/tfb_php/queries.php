<?php
require __DIR__ . '/common.php';
header('Content-Type: application/json');
echo json_encode(tfb_worlds(tfb_pdo(), tfb_queries()));
