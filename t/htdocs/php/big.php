<?php
// ?bytes=N (default 20 MiB) of deterministic content, in 64 KiB blocks;
// block i is "%07d|" (8 bytes) repeated.  X-Body-MD5 carries the md5 of
// the whole body so the client can check it arrived intact.
$bytes = isset($_GET['bytes']) ? (int) $_GET['bytes'] : 20 * 1024 * 1024;
$block = 65536;
$make = function ($i, $len) {
    return substr(str_repeat(sprintf('%07d|', $i), 8192), 0, $len);
};
$ctx = hash_init('md5');
for ($i = 0, $left = $bytes; $left > 0; $i++, $left -= $block) {
    hash_update($ctx, $make($i, min($block, $left)));
}
header('Content-Type: application/octet-stream');
header('X-Body-MD5: ' . hash_final($ctx));
header('X-Body-Length: ' . $bytes);
for ($i = 0, $left = $bytes; $left > 0; $i++, $left -= $block) {
    echo $make($i, min($block, $left));
}
