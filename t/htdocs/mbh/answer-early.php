<?php
// Exists so that the script check lets /mbh/answer-early.php through to a
// pool on fcgi-misbehave, which answers 413 with its "answer-early"
// scenario before it reads the request body (the file name minus ".php").
