-- The older Flask service created this same table; IF NOT EXISTS lets the new
-- service start on its volume and keep its rows.
CREATE TABLE IF NOT EXISTS acessos (
  id SERIAL PRIMARY KEY,
  endpoint TEXT NOT NULL,
  timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
