"""Service (志愿服务): activities, service records and their approval, ratings, 台账 imports, the batch path."""
